"""One run per results folder: a second run into a live folder is refused with one line naming
the other process; a folder left by a killed run is taken over without any flag."""

import json
import os
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import RECORDING_MLP, ROOT, kill_run_when, pausing_env, tiny_config, write_config

from actsearch.cli import main
from actsearch.lock import LOCK_NAME, results_lock

# Without the package's __init__ (which imports TensorFlow): the lock needs only the stdlib.
TRY_LOCK = """
import sys, types
sys.modules["actsearch"] = types.ModuleType("actsearch")
sys.modules["actsearch"].__path__ = [sys.argv[2]]
from actsearch.errors import UserError
from actsearch.lock import results_lock
try:
    with results_lock(sys.argv[1]):
        print("locked")
except UserError as exc:
    print(exc)
"""


def try_lock_elsewhere(folder) -> str:
    """What another process gets when it asks for the folder's lock."""
    package = str(ROOT / "actsearch")
    done = subprocess.run([sys.executable, "-c", TRY_LOCK, str(folder), package], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.strip()


@pytest.mark.slow
def test_a_held_folder_is_refused_to_another_process_until_released(tmp_path):
    folder = tmp_path / "results" / "x"
    with results_lock(folder):
        holder = json.loads((folder / LOCK_NAME).read_text())
        assert holder["pid"] == os.getpid()
        refused = try_lock_elsewhere(folder)
        assert refused.count("\n") == 0
        assert refused.startswith(f"{folder} is in use by another actsearch run (pid "
                                  f"{os.getpid()} on ")
        assert refused.endswith("); wait for it or use --out DIR")
    assert try_lock_elsewhere(folder) == "locked"


@pytest.mark.slow
def test_a_second_run_into_a_live_folder_is_refused_and_the_first_completes(tmp_path, capsys):
    out = tmp_path / "out"
    path = write_config(tmp_path / "c.yaml", tiny_config(out, training={"epochs": 3}))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen([sys.executable, "-m", "actsearch", "run", str(path)], cwd=ROOT,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while not (out / LOCK_NAME).is_file() or not (out / LOCK_NAME).stat().st_size:
            assert first.poll() is None and time.time() < deadline, "the first run never started"
            time.sleep(0.05)
        capsys.readouterr()
        assert main(["run", str(path)]) == 2  # the second run: this process, not the first
        refused = capsys.readouterr().err
        assert first.poll() is None, "the first run ended before the second was refused"
        stdout, stderr = first.communicate(timeout=240)
    finally:
        first.kill()
    assert refused.count("\n") == 1 and "Traceback" not in refused
    assert refused.startswith(f"actsearch: error: {out} is in use by another actsearch "
                              f"run (pid {first.pid} on ")
    assert first.returncode == 0, stderr[-2000:]
    assert list(pd.read_csv(out / "histories" / "relu-seed0.csv")["epoch"]) == [1, 2, 3]
    assert (out / "trials" / "relu-seed0.json").is_file() and (out / "summary.md").is_file()


@pytest.mark.slow
def test_a_killed_runs_folder_is_taken_over_without_any_flag(tmp_path, monkeypatch):
    out = tmp_path / "out"
    path = write_config(tmp_path / "c.yaml", tiny_config(
        out, model={"architecture": RECORDING_MLP}, training={"epochs": 3}))
    history = out / "histories" / "relu-seed0.csv"
    records = tmp_path / "records"  # paused at its 6th batch: in epoch 2, holding the lock
    kill_run_when(path, (records / "relu.paused").is_file, env=pausing_env(records, "relu", 6))
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    monkeypatch.setenv("ACTSEARCH_RECORD_DIR", str(records))
    assert main(["run", str(path), "--quiet"]) == 0  # the rerun: in this process
    assert list(pd.read_csv(history)["epoch"]) == [1, 2, 3]
