"""Command line: `python -m actsearch run|search|plot|list|configs|activations`.

User errors print one line and exit 2; Ctrl-C exits 130 with a hint to rerun and resume.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from actsearch.activations import REGISTRY, check_activation_names
from actsearch.api import load_results
from actsearch.bundled import bundled_configs, config_description, resolve_config
from actsearch.config import load_config
from actsearch.errors import UserError
from actsearch.experiment import run_experiment
from actsearch.reporting.activation_plots import plot_activations
from actsearch.search import run_search

SEARCH_DESCRIPTION = """\
Discover activation functions: candidates are screened, trained through successive-halving
rungs (a candidate goes on when it is in the top search.keep of everything its rung has
seen), and the best are confirmed beside baselines on seeds the rungs did not use. State:
<out>/search/search.db (SQLite); a rerun resumes. Selection on data.validation: test is
refused unless search.allow_test_selection: true.

Search spaces (search.space), distinct functions of x counted by enumeration
(benchmarks/search_space_sizes.py):
  default, units 1                                 10,952 genomes     6,049 functions
  search-fashion's primitives, units 1              3,456 genomes     1,834 functions
  units 2, second_unary [x, tanh, sigmoid, relu],
    second_binary [add, mul]                      350,464 genomes    96,483 functions
  default, units 2                            119,946,304 genomes  at most 6.7e7 functions
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="actsearch", description="Compare activation functions on the same Keras network.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="train every (activation, seed) of a config; resumes")
    run.add_argument("config", help="a YAML file, or a bundled config's name (see "
                     "`actsearch configs`), e.g. smoke or mnist")
    run.add_argument("--set", dest="overrides", action="append", default=[],
                     metavar="KEY=VALUE", help="override a config key, value parsed as YAML "
                     "(e.g. --set training.epochs=3 --set model.activations=[relu,gelu])")
    run.add_argument("--out", help="results folder (overrides output.dir)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace results of a different config in the results folder")
    run.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    run.add_argument("--verbose", action="store_true", help="also TensorFlow's own log lines, "
                     "hidden by default (as ACTSEARCH_TF_LOGS=1)")  # read by tf_output at import

    search = sub.add_parser("search", help="discover activation functions (successive "
                            "halving over candidates, then a confirm run); resumes",
                            description=SEARCH_DESCRIPTION,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    search.add_argument("config", help="YAML config with a search section, e.g. "
                        "configs/search-fashion.yaml")
    search.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config key (value parsed as YAML)")
    search.add_argument("--out", help="results folder (overrides output.dir)")
    search.add_argument("--quiet", action="store_true", help="no progress lines")

    plot = sub.add_parser("plot", help="redraw plots and summary of a results folder")
    plot.add_argument("results_dir", help="a results folder written by `actsearch run` (or a "
                      "search's <out>/confirm)")

    sub.add_parser("list", help="list the registered activations")

    configs = sub.add_parser("configs", help="list the bundled configs, or print one (to copy "
                             "and edit: actsearch configs mnist > my.yaml)")
    configs.add_argument("name", nargs="?", help="print this bundled config's YAML")

    shapes = sub.add_parser("activations",
                            help="plot activations and their derivatives (autodiff)")
    shapes.add_argument("names", nargs="*", metavar="NAME",
                        help="activations to draw (default: every registered one)")
    shapes.add_argument("--out", default="results/activations", help="folder for the figures")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"actsearch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("actsearch: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def _config_and_log(args: argparse.Namespace):
    """The config named by `run`/`search` arguments (path or bundled name, --set, --out),
    and where progress lines go (nowhere with --quiet)."""
    overrides = list(args.overrides)
    if args.out:
        overrides.append(f"output.dir={args.out}")
    cfg = load_config(resolve_config(args.config), overrides)
    return cfg, (lambda msg: None) if args.quiet else (lambda msg: print(msg, flush=True))


def cmd_run(args: argparse.Namespace) -> int:
    cfg, log = _config_and_log(args)
    run_experiment(cfg, overwrite=args.overwrite, quiet=args.quiet, log=log)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    cfg, log = _config_and_log(args)
    run_search(cfg, quiet=args.quiet, log=log)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    results = load_results(args.results_dir)
    results.refresh()
    print(f"actsearch: wrote {results.path / 'plots'}, summary.md and report.html "
          f"in {results.path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    width = max(len(name) for name in REGISTRY)
    for spec in REGISTRY.values():
        print(f"{spec.name:<{width}}  {spec.description}")
    return 0


def cmd_configs(args: argparse.Namespace) -> int:
    bundled = bundled_configs()
    if args.name:
        if args.name not in bundled:
            raise UserError(f"no bundled config {args.name} ({', '.join(bundled)})")
        print(bundled[args.name].read_text(), end="")
        return 0
    width = max(len(name) for name in bundled)
    for name, path in bundled.items():
        print(f"{name:<{width}}  {config_description(path)}")
    print("run one with `actsearch run NAME`; print its YAML with `actsearch configs NAME`")
    return 0


def cmd_activations(args: argparse.Namespace) -> int:
    names = args.names or list(REGISTRY)
    check_activation_names(names)
    written = plot_activations(names, Path(args.out))
    print(f"actsearch: wrote {len(written)} figures to {args.out}: "
          + ", ".join(p.name for p in written if p.suffix == ".png"))
    return 0


COMMANDS = {"run": cmd_run, "search": cmd_search, "plot": cmd_plot, "list": cmd_list,
            "configs": cmd_configs,
            "activations": cmd_activations}

if __name__ == "__main__":
    sys.exit(main())
