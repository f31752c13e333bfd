"""`actsearch search`: the space of candidate functions (space), aging evolution over it
(evolution), and the loop that screens, trains through successive-halving rungs and confirms
(loop). Activation expressions themselves live in actsearch.expressions, one layer down,
because `actsearch run` trains them too."""

from actsearch.search.loop import SearchOutcome, run_search, search_config
from actsearch.search.preflight import check_search

__all__ = ["SearchOutcome", "check_search", "run_search", "search_config"]
