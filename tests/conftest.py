"""Shared helpers: a tiny real config on the shipped MNIST fixture, and the CLI in-process."""

from __future__ import annotations

import functools
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

# pytest-xdist workers share the machine's cores: each gets its share of TensorFlow threads
# (and so do the runs it starts) instead of one per core apiece spinning against the other's.
# Set before any test module imports TensorFlow.
if os.environ.get("PYTEST_XDIST_WORKER"):
    _share = max(1, len(os.sched_getaffinity(0)) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    for _name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(_name, str(_share))

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "actsearch" / "sample_data" / "mnist-mini"  # the data set mnist_sample


def tiny_config(out: Path, **sections) -> dict:
    """A config that trains in seconds: 256 real MNIST digits, 1 epoch, relu only.
    Diagnostics are off (each trial would trace its probe); the tests that check them
    turn them on."""
    cfg = {
        "name": "tiny",
        "data": {"path": str(FIXTURE), "limit_train": 256, "limit_test": 128},
        "model": {"activations": ["relu"]},
        "training": {"epochs": 1, "batch_size": 64, "seeds": [0]},
        "output": {"dir": str(out)},
        "diagnostics": {"enabled": False},
    }
    for section, values in sections.items():
        cfg.setdefault(section, {}).update(values)
    return cfg


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_cli(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python -m actsearch ...` in a fresh process, as a user runs it."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "actsearch", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def kill_run_when(config: Path, ready, settle: float = 0.0, timeout: float = 240,
                  command: str = "run", env: dict | None = None) -> None:
    """Start `python -m actsearch <command> config`, wait until ready() is true, wait `settle`
    seconds more, then SIGKILL it: a crash nothing can intercept, as a power cut. Where the
    moment matters, ready() should be something the run did (tests/recording_builder.py
    pauses a run at a given batch), not a settle time."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "actsearch", command, str(config)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and proc.poll() is None and not ready():
            time.sleep(0.05)
        time.sleep(settle)
        assert proc.poll() is None, "the run finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()


RECORDING_MLP = "recording_builder:mlp"  # tests/recording_builder.py: records, can pause


def pausing_env(records: Path, activation: str, batch: int) -> dict:
    """The environment of a `python -m actsearch` process whose RECORDING_MLP network for
    `activation` pauses at its `batch`-th training batch (from 1) and writes
    `records/<activation>.paused` there: kill_run_when(..., ready=that file's is_file) then
    kills it at that very batch, on any machine."""
    records.mkdir(parents=True, exist_ok=True)
    return {"ACTSEARCH_RECORD_DIR": str(records), "ACTSEARCH_PAUSE": f"{activation}:{batch}",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture
def tiny(tmp_path):
    """(config path, results dir) for a tiny run."""
    out = tmp_path / "out"
    return write_config(tmp_path / "tiny.yaml", tiny_config(out)), out


@pytest.fixture
def http_server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/www."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
