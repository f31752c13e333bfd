"""Keep TensorFlow's C++ log lines out of the command line's output.

TensorFlow prints lines that look like failures but are not (`E0000 ... failed call to cuInit`
on every CPU-only machine, `NodeDef mentions attribute use_unbounded_threadpool` once per
trial, ...). Some come before its logging reads TF_CPP_MIN_LOG_LEVEL ("All log messages before
absl::InitializeLog() ..."), so for the CLI a thread filters file descriptor 2 too: it drops only
lines matching the known-noise patterns below and forwards everything else (tracebacks, our own
`actsearch: error:` lines) unchanged. `--verbose` or ACTSEARCH_TF_LOGS=1 shows everything.

In Python (a script, a notebook), the same filter runs only while `import actsearch` starts
TensorFlow (end_start_up), so TensorFlow's start-up lines are hidden there too, unless the user
has set TF_CPP_MIN_LOG_LEVEL. Imports only the standard library at the top: it runs before
TensorFlow is imported.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import select
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

# glog/absl's "E0000 00:00:1795460920.364587    3624 " or TF's older "2024-05-01 12:00:00.1: E "
_PREFIX = r"(?:[IWE]\d{4} [\d:.]+ +\d+ |[\d-]+ [\d:.]+: [IWE] )(?:\S*/)?"
# Ray forwards its workers' lines as "\x1b[36m(pid=13107)\x1b[0m <line>" or "(Actor pid=1, ...) "
_RAY_WORKER = r"(?:(?:\x1b\[[\d;]*m)?\([^()]*pid=\d+[^()]*\)(?:\x1b\[[\d;]*m)? )?"
NOISE_PATTERNS = tuple(re.compile(_RAY_WORKER + p) for p in (
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    _PREFIX + r"cudart_stub\.cc:\d+\] Could not find cuda drivers",
    _PREFIX + r"cuda_platform\.cc:\d+\] failed call to cuInit",
    _PREFIX + r"cuda_(?:dnn|fft|blas)\.cc:\d+\] Unable to register cu(?:DNN|FFT|BLAS) factory",
    _PREFIX + r"computation_placer\.cc:\d+\] computation placer already registered",
    _PREFIX + r"node_def_util\.cc:\d+\] NodeDef mentions attribute use_unbounded_threadpool",
    _PREFIX + r"port\.cc:\d+\] oneDNN custom operations are on",
    _PREFIX + r"cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized",
    r"To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler",
))


def is_tensorflow_noise(line: str) -> bool:
    """A known TensorFlow start-up or per-trial line that reports no problem."""
    return any(p.match(line) for p in NOISE_PATTERNS)


def launched_as_cli(argv: Sequence[str] | None = None) -> bool:
    """`python -m actsearch ...` or the `actsearch` console script (not a notebook, not tests)."""
    orig = list(getattr(sys, "orig_argv", []) if argv is None else argv)
    as_module = "-mactsearch" in orig or any(
        a == "-m" and b == "actsearch" for a, b in zip(orig, orig[1:], strict=False))
    return as_module or (argv is None and Path(sys.argv[0]).stem == "actsearch")


def tensorflow_logs_wanted() -> bool:
    """ACTSEARCH_TF_LOGS=1 (any non-empty value but 0), or `actsearch run --verbose`."""
    env = os.environ.get("ACTSEARCH_TF_LOGS", "").strip().lower()
    return env not in ("", "0", "false", "no") or (launched_as_cli() and "--verbose" in sys.argv)


class StderrFilter:
    """File descriptor 2 through a pipe; a daemon thread forwards every line that is not known
    noise to the original stderr. stop() (also at exit) restores fd 2 and waits for the last
    lines to be written."""

    def __init__(self, is_noise=is_tensorflow_noise):
        self.is_noise = is_noise
        sys.stderr.flush()
        self.original = os.dup(2)
        self.read, write = os.pipe()
        try:  # room for a burst written while the thread waits for the GIL (Linux only)
            import fcntl
            fcntl.fcntl(write, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
        except (ImportError, OSError):
            pass
        os.dup2(write, 2)
        os.close(write)
        self.thread = threading.Thread(target=self._forward, name="actsearch-stderr-filter",
                                       daemon=True)
        self.thread.start()
        atexit.register(self.stop)

    def _write(self, data: bytes) -> None:
        try:
            while data:
                data = data[os.write(self.original, data):]
        except OSError:  # the reader of our stderr has gone: nothing more to show
            pass

    def _keep(self, lines: list[bytes]) -> bytes:
        return b"".join(line for line in lines if not self.is_noise(
            line.decode(errors="replace").rstrip("\r\n")))

    def _forward(self) -> None:
        pending = b""
        while True:
            ready, _, _ = select.select([self.read], [], [], 0.2 if pending else None)
            if not ready:  # a line without its end (a prompt): show it as it is
                self._write(self._keep([pending]))
                pending = b""
                continue
            chunk = os.read(self.read, 1 << 16)
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            self._write(self._keep([line + b"\n" for line in lines]))
        self._write(self._keep([pending]))
        os.close(self.read)

    def stop(self) -> None:
        if not self.thread.is_alive():
            return
        sys.stderr.flush()
        os.dup2(self.original, 2)  # drops our write end of the pipe: the thread reads EOF
        self.thread.join(timeout=2)  # a child process holding the pipe must not block exit


def configure_tensorflow_output() -> StderrFilter | None:
    """Before TensorFlow is imported: everything it says if asked (TF_CPP_MIN_LOG_LEVEL=0);
    for the CLI, only fatal C++ lines (3), Python-side errors, and none of the known noise
    printed before that setting applies. A TF_CPP_MIN_LOG_LEVEL set by the user is kept.
    In Python (a script, a notebook) the known start-up noise is dropped too, unless the user
    set TF_CPP_MIN_LOG_LEVEL: the filter returned then is for end_start_up()."""
    if tensorflow_logs_wanted():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
        return None
    if os.name != "posix":
        return None
    if not launched_as_cli():
        if "TF_CPP_MIN_LOG_LEVEL" in os.environ:  # the user's own choice: theirs to see
            return None
        return StderrFilter()  # until end_start_up()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # its Python side too: "WARNING:tensorflow:5 out of the last 8 calls ... triggered
    # tf.function retracing" comes from one new model per trial, as designed
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return StderrFilter()


def end_start_up(start_up: StderrFilter | None) -> None:
    """In Python, after actsearch's imports: TensorFlow's device probe (the "failed call to
    cuInit" line of every CPU-only machine comes from it) while the start-up filter still
    runs, then file descriptor 2 as it was. Not for the CLI, whose filter stays on."""
    if start_up is None or launched_as_cli():
        return
    try:
        import tensorflow as tf  # already imported by actsearch: no cost here

        tf.config.list_physical_devices()
    finally:
        start_up.stop()
