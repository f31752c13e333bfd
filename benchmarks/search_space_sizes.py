"""How many distinct activation functions each search space holds, counted by enumeration
(actsearch.search.space.distinct_functions: one fingerprint per function of x), beside the
number of genomes. Prints a markdown table.

    python benchmarks/search_space_sizes.py            # the spaces below
    python benchmarks/search_space_sizes.py --quick    # the one-unit spaces only
"""

from __future__ import annotations

import argparse
import time

from actsearch.bundled import resolve_config
from actsearch.config import load_config
from actsearch.search.preflight import search_space_of
from actsearch.search.space import (
    SearchSpace,
    distinct_functions,
    first_unit_functions,
    genome_count,
)

SMALL_SECOND = {"second_unary": ["x", "tanh", "sigmoid", "relu"],
                "second_binary": ["add", "mul"]}


def spaces(quick: bool) -> list[tuple[str, SearchSpace]]:
    fashion = search_space_of(load_config(resolve_config("search-fashion")))
    found = [("default, 1 unit", SearchSpace()), ("search-fashion, 1 unit", fashion)]
    if not quick:
        found.append(("default unit, then a second from 4 unary x 2 binary",
                      SearchSpace(units=2, **SMALL_SECOND)))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print("| space | genomes | distinct functions | seconds |")
    print("| --- | ---: | ---: | ---: |")
    for name, space in spaces(args.quick):
        started = time.perf_counter()
        count = distinct_functions(space)
        print(f"| {name} | {genome_count(space):,} | {count:,} | "
              f"{time.perf_counter() - started:.0f} |", flush=True)
    full, one = SearchSpace(units=2), SearchSpace()
    firsts = len(first_unit_functions(one))  # constants included: a second unit may use x
    print(f"| default, 2 units | {genome_count(full):,} | at most {firsts:,} first-unit "
          f"functions x {genome_count(one):,} second units = "
          f"{firsts * genome_count(one):.2g}, not enumerated | - |")


if __name__ == "__main__":
    main()
