"""Where a short trial's CPU time goes: one `actsearch run` of one 1-epoch trial, by phase.

Runs the real experiment (run_experiment: check, data, results folder, local executor,
report) in a fresh child process, with each phase wrapped to add up this process's CPU
time (all threads; robust to other work on the machine). Prints a table of CPU seconds per
phase; "once per run" phases are paid by a sweep once, the others by every trial.

    nice -n 15 python benchmarks/fixed_cost.py [--data DIR] [--limit 10000] [--set KEY=VALUE]
"""

from __future__ import annotations

import time

START_CPU = time.process_time()  # the interpreter's own start-up, before any import below

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "fashion-mnist"
PER_RUN = ("process start (interpreter)", "imports (actsearch, TensorFlow, Keras)",
           "data load", "model check build", "results folder + env.json", "report",
           "process exit")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--limit", type=int, default=10000, help="training images")
    p.add_argument("--test-limit", type=int, default=1667, help="test images (6:1, as speed.py)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "phases.json"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, __file__, *sys.argv[1:], "--child", str(out)],
                       check=True, cwd=ROOT)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        phases = json.loads(out.read_text())
    total = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    phases["process exit"] = total - phases.pop("child CPU at its end")
    print_table(phases, total)
    return 0


def print_table(phases: dict[str, float], total: float) -> None:
    accounted = sum(phases.values())
    rows = [*phases.items(), ("other (train_trial, executor, logging)", total - accounted)]
    print("\n| phase | CPU s | share | paid |\n| --- | ---: | ---: | --- |")
    for name, seconds in rows:
        paid = "per run" if name in PER_RUN else "per trial"
        print(f"| {name} | {seconds:.2f} | {100 * seconds / total:.1f}% | {paid} |")
    print(f"| **whole process** | **{total:.2f}** | 100% | |")


def child(args: argparse.Namespace) -> int:
    phases: dict[str, float] = defaultdict(float)
    phases["process start (interpreter)"] = START_CPU
    clock = time.process_time
    start = clock()
    sys.path.insert(0, str(ROOT))
    import keras

    from actsearch import experiment, training
    from actsearch.config import load_config
    from actsearch.diagnostics import DiagnosticsWriter
    from actsearch.storage import ResultsDir
    phases["imports (actsearch, TensorFlow, Keras)"] = clock() - start

    nested: list[float] = []  # CPU of timed phases inside the one running, per level

    def timed(owner, attr: str, name: str) -> None:
        """Add the CPU time of owner.attr's calls to `name`, less any timed phase inside."""
        original = getattr(owner, attr)

        def wrapper(*a, **k):
            begin = clock()
            nested.append(0.0)
            try:
                return original(*a, **k)
            finally:
                elapsed = clock() - begin
                phases[name] += elapsed - nested.pop()
                if nested:
                    nested[-1] += elapsed
        setattr(owner, attr, wrapper)

    timed(experiment, "load_dataset", "data load")
    timed(experiment, "check_model", "model check build")
    timed(ResultsDir, "prepare", "results folder + env.json")
    timed(ResultsDir, "save_environment", "results folder + env.json")
    timed(training, "build_compiled_model", "model build + compile")
    timed(DiagnosticsWriter, "on_epoch_begin", "probe set-up, tracing and epoch-0 pass")
    timed(DiagnosticsWriter, "on_epoch_end", "probe after the epoch")
    timed(training.HistoryWriter, "on_epoch_end", "history CSV")
    for hook in ("on_train_begin", "on_epoch_end", "on_train_end"):
        timed(training.SafeBackupAndRestore, hook, "backup writes (Keras BackupAndRestore)")
    timed(training, "finish_trial", "final test evaluation (+ drop backup)")
    timed(ResultsDir, "save_record", "trial record")
    timed(experiment, "write_report", "report")
    timed(keras.backend, "clear_session", "keras clear_session (after the check and the trial)")
    timed(keras.Model, "fit", "training steps after the first")

    class Steps(keras.callbacks.Callback):
        """The first training step (it traces the train function) and the validation pass."""

        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                self._begin = clock()

        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                phases["first training step (tracing)"] += clock() - self._begin

        def on_test_begin(self, logs=None):
            self._test = clock()

        def on_test_end(self, logs=None):
            phases["validation pass (first one traces)"] += clock() - self._test

    trial_callbacks = training.trial_callbacks
    training.trial_callbacks = lambda *a, **k: [Steps(), *trial_callbacks(*a, **k)]

    with tempfile.TemporaryDirectory() as tmp:
        sets = [f"data.path={Path(args.data).resolve()}", f"data.limit_train={args.limit}",
                f"data.limit_test={args.test_limit}", "training.epochs=1",
                "model.activations=[relu]", f"output.dir={tmp}/out", *args.set]
        cfg = load_config(ROOT / "configs" / "mnist.yaml", sets)
        experiment.run_experiment(cfg, quiet=True, log=lambda message: None)

    inside_fit = ("probe set-up, tracing and epoch-0 pass", "probe after the epoch",
                  "history CSV", "backup writes (Keras BackupAndRestore)",
                  "first training step (tracing)", "validation pass (first one traces)")
    phases["training steps after the first"] -= sum(phases[k] for k in inside_fit[4:])
    order = [*PER_RUN[:5], "model build + compile", inside_fit[0], inside_fit[4],
             "training steps after the first", inside_fit[5], inside_fit[1], inside_fit[2],
             inside_fit[3], "final test evaluation (+ drop backup)", "trial record",
             "keras clear_session (after the check and the trial)", "report"]
    result = {k: phases[k] for k in order}
    result["child CPU at its end"] = clock()
    Path(args.child).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
