"""The pipeline's layers, as docs/development.md lists them: each module imports only from its own
layer or the ones before it (imports inside functions count), and nothing imports in a
cycle. Adding a module means placing it here, in the layer it belongs to."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "actsearch"
LAYERS = [
    ["errors", "files", "registry", "lock", "tf_output", "bundled"],
    ["config", "config_reference"],
    ["expressions", "activations", "losses", "models", "optimizer", "data",
     "batches", "environment"],
    ["trials", "storage"],
    ["diagnostics", "tensorboard_logs", "training", "pruning"],
    ["executors", "executors.base", "executors.local", "executors.fused", "executors.ray",
     "executors.ray.faults", "executors.ray.worker", "executors.ray.driver"],
    ["exact_tests", "statistics", "analysis"],
    ["reporting", "reporting.document", "reporting.markdown", "reporting.html",
     "reporting.plots", "reporting.diagnostic_plots", "reporting.activation_plots",
     "reporting.report", "reporting.search_report"],
    ["checks", "experiment"],
    ["search", "search.space", "search.engine", "search.evolution", "search.state",
     "search.promotion", "search.rungs", "search.validation", "search.trainers",
     "search.progress", "search.correlation", "search.preflight", "search.pool",
     "search.standings", "search.fidelity", "search.fidelity_figures", "search.outputs",
     "search.parallel", "search.loop"],
    ["api", "cli", "cli_reference", "__main__"],
]
LAYER_OF = {module: i for i, layer in enumerate(LAYERS) for module in layer}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """actsearch modules imported anywhere in the file, by name relative to the package."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith("actsearch."):
                found.add(name.removeprefix("actsearch."))
    return {name for name in found if name in LAYER_OF}


def test_every_module_has_a_layer_and_imports_only_from_earlier_ones():
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules.pop("", None)  # the package's __init__ re-exports the API
    unplaced = sorted(set(modules) - set(LAYER_OF))
    assert not unplaced, f"place these modules in a layer of tests/test_layout.py: {unplaced}"
    upward = [f"{m} -> {i}" for m, p in modules.items() for i in _imports(p)
              if LAYER_OF[i] > LAYER_OF[m]]
    assert not upward, f"imports from a later layer: {upward}"


def test_config_imports_nothing_else_of_actsearch():
    assert _imports(PACKAGE / "config.py") <= {"errors"}


def test_no_import_cycles():
    graph = {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}
    graph.pop("", None)
    for edges in graph.values():
        edges.discard("")
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join([*path, node, nxt])}"
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])


def test_keras_internals_are_imported_only_where_used():
    """A Keras release that moves a private module must not break `import actsearch`: keras.src
    is imported inside the function that needs it (with a one-line fallback), never at the top
    of a module."""
    at_top = [f"{_module_name(p)}: {node.module}" for p in PACKAGE.rglob("*.py")
              for node in ast.parse(p.read_text()).body
              if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras.src")]
    assert not at_top
