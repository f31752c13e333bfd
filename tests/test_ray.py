"""The Ray executor on a real local Ray instance (127.0.0.1): a local run's files and
histories, workers killed for real mid-trial, a trial that keeps failing, resume.

Without Ray installed these tests skip, unless ACTSEARCH_REQUIRE_RAY=1 (.ci/run sets it):
then a missing Ray fails them, so CI always runs them.
"""

import importlib.util
import os
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import tiny_config, write_config
from test_search import OBJECTIVE, SWISH, _board, _db, search_config

from actsearch.activations import file_safe
from actsearch.cli import main
from actsearch.config import load_config
from actsearch.executors.ray.faults import FAULT_HOOK
from actsearch.expressions import canonical, fingerprint, parse
from actsearch.search import run_search
from actsearch.search.loop import search_config as make_config
from actsearch.storage import ResultsDir

MLP = {"architecture": "mlp", "depth": 1, "width": 16, "activations": ["relu", "elu"]}
SWEEP = {"model": MLP, "training": {"epochs": 2, "seeds": [0, 1]}}
TRIALS = ["relu-seed0", "relu-seed1", "elu-seed0", "elu-seed1"]
SMALL = {"model": MLP, "training": {"epochs": 2, "seeds": [0]},
         "diagnostics": {"enabled": True, "probe_size": 64}}  # its files must travel back too
CORES = len(os.sched_getaffinity(0))


@pytest.fixture(scope="module")
def ray():
    """One local Ray for the module, started by the caller (as in a notebook): both tests use
    it, and its warm workers (each worker pays TensorFlow's import once)."""
    if importlib.util.find_spec("ray") is None:
        if os.environ.get("ACTSEARCH_REQUIRE_RAY") == "1":
            pytest.fail("Ray is not installed but ACTSEARCH_REQUIRE_RAY=1: pip install -e '.[ray]'")
        pytest.skip("Ray is not installed (pip install -e '.[ray]'); CI requires it")
    import ray

    ray.init(address="local", num_cpus=CORES, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.mark.slow
def test_ray_run_writes_a_local_runs_files_and_identical_histories(tmp_path, ray, capsys):
    local_out, ray_out = tmp_path / "local", tmp_path / "ray"
    assert main(["run", str(write_config(tmp_path / "l.yaml", tiny_config(local_out, **SMALL))),
                 "--quiet"]) == 0
    # A trial gets as many TensorFlow threads as the local run used (this process's share of
    # the cores, tests/conftest.py): float sums then split the same way, and the histories
    # must agree to the last bit.
    threads = int(os.environ.get("TF_NUM_INTRAOP_THREADS", CORES))
    cfg = tiny_config(ray_out, execution={"executor": "ray",
                                          "resources_per_trial": {"cpu": threads}}, **SMALL)
    path = write_config(tmp_path / "r.yaml", cfg)
    capsys.readouterr()
    assert main(["run", str(path)]) == 0
    printed = capsys.readouterr().out
    assert f"using the Ray this process already runs: {CORES} CPUs" in printed
    assert "[2/2] elu seed 0: done" in printed
    assert files(ray_out) == files(local_out)
    for trial in ["relu-seed0", "elu-seed0"]:
        local, remote = (pd.read_csv(root / "histories" / f"{trial}.csv")
                         for root in (local_out, ray_out))
        assert list(remote.columns) == list(local.columns)
        assert list(remote["epoch"]) == list(local["epoch"]) == [1, 2]
        pd.testing.assert_frame_equal(remote.drop(columns="seconds"),
                                      local.drop(columns="seconds"), check_exact=True)
    assert (ray_out / "diagnostics" / "elu-seed0.csv").read_bytes() == (
        local_out / "diagnostics" / "elu-seed0.csv").read_bytes()
    local, remote = (pd.read_csv(root / "summary.csv") for root in (local_out, ray_out))
    assert list(remote.columns) == list(local.columns)
    assert remote["status"].eq("ok").all()
    # rerun: every trial is finished, so nothing trains and Ray is not even used
    assert main(["run", str(path)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("already finished, skipped") == 2
    assert "using the Ray" not in printed and "Ray at" not in printed


@pytest.mark.slow
def test_killed_workers_are_retried_failures_recorded_and_a_rerun_retries_them(
        tmp_path, ray, monkeypatch, capsys):
    out = tmp_path / "out"
    cfg = tiny_config(out, execution={"executor": "ray", "max_retries": 1}, **SWEEP)
    path = write_config(tmp_path / "c.yaml", cfg)
    # relu-seed0's worker is SIGKILLed after epoch 1 once, elu-seed1's every time;
    # relu-seed1's training code raises (not retried: it would raise again)
    monkeypatch.setenv(FAULT_HOOK, "relu-seed0:1:1,elu-seed1:1:99,relu-seed1:1:9:raise")
    capsys.readouterr()
    assert main(["run", str(path)]) == 0
    printed = capsys.readouterr().out
    assert f"using the Ray this process already runs: {CORES} CPUs" in printed
    records = {t: pd.read_json(out / "trials" / f"{t}.json", typ="series") for t in TRIALS}
    assert records["relu-seed0"]["status"] == "ok" and records["relu-seed0"]["attempts"] == 2
    assert records["elu-seed0"]["status"] == "ok" and records["elu-seed0"]["attempts"] == 1
    assert records["elu-seed1"]["status"] == "failed" and records["elu-seed1"]["attempts"] == 2
    assert "WorkerCrashedError" in records["elu-seed1"]["error"]
    assert records["relu-seed1"]["status"] == "failed" and records["relu-seed1"]["attempts"] == 1
    assert records["relu-seed1"]["error"] == "RuntimeError: fault injected after epoch 1"
    pids = re.findall(r"relu seed 0: started on \S+ \(pid (\d+)", printed)
    assert len(pids) == 2 and pids[0] != pids[1], printed  # the first worker is gone
    assert "relu seed 0: worker lost after epoch 1" in printed
    assert "[4/4] elu seed 1: FAILED: worker lost on all 2 attempt(s)" in printed
    for trial in TRIALS:  # the retried trial restarted from epoch 1: no epoch twice
        expected = [1, 2] if records[trial]["status"] == "ok" else [1]
        assert list(pd.read_csv(out / "histories" / f"{trial}.csv")["epoch"]) == expected
    summary = pd.read_csv(out / "summary.csv").set_index("trial")
    assert summary.loc["elu-seed1", "status"] == "failed"
    md = (out / "summary.md").read_text()
    assert "elu-seed1 FAILED after 1 epoch(s)" in md and "WorkerCrashedError" in md
    assert "relu-seed1 FAILED after 1 epoch(s)" in md and "fault injected" in md

    # rerun, faults gone: the finished trials are skipped, the failed ones trained again
    monkeypatch.delenv(FAULT_HOOK)
    assert main(["run", str(path)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("already finished, skipped") == 2 and "Ray at" not in printed
    assert f"using the Ray this process already runs: {CORES} CPUs" in printed
    assert ray.is_initialized()  # the caller's Ray is left running
    for trial in TRIALS:
        assert pd.read_json(out / "trials" / f"{trial}.json", typ="series")["status"] == "ok"
        assert list(pd.read_csv(out / "histories" / f"{trial}.csv")["epoch"]) == [1, 2]
    assert "FAILED" not in (out / "summary.md").read_text()


def test_missing_ray_is_one_line_with_the_install_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets without Ray
    out = tmp_path / "out"
    path = write_config(tmp_path / "c.yaml", tiny_config(out))
    assert main(["run", str(path), "--set", "execution.executor=ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["actsearch: error: execution.executor=ray needs Ray, which is not installed "
                   "here: pip install -e '.[ray]'"]
    assert not out.exists()  # refused before the results folder is touched
    # reading a Ray run's config and redrawing its report need no Ray
    ResultsDir(out).prepare(load_config(path, ["execution.executor=ray"]), overwrite=False)
    assert main(["plot", str(out)]) == 0


@pytest.mark.slow
def test_ray_search_keeps_batches_in_flight_and_survives_a_killed_worker(ray, tmp_path,
                                                                        monkeypatch):
    """Two workers, batches of 1, two in flight: the second batch starts before the first
    ends; the worker training swish at rung 0 is SIGKILLed after its first epoch, and the
    trial starts again on another; every result reaches evolution as it arrives."""
    out = tmp_path / "out"
    raw = search_config(out, include=[SWISH, "tanh(x) * x"], candidates=4, batch=1,
                        batches_in_flight=2, confirm={"top": 0})
    raw["execution"] = {"executor": "ray", "resources_per_trial": {"cpu": 1},
                        "max_retries": 1}
    monkeypatch.setenv(FAULT_HOOK, f"{file_safe(SWISH)}-seed0:1:1")
    lines: list[str] = []
    run_search(make_config(raw), log=lines.append)
    board = _board(out)
    trained = board[board["screening"] == "ok"]
    assert len(trained) == 4 and (trained["status"] == "ok").all()
    swish = canonical(parse(SWISH))
    assert any(line.startswith(f"[0/1] {swish} seed 0: worker lost after epoch 1")
               for line in lines)
    first_done = next(i for i, line in enumerate(lines) if line.startswith("search: batch"))
    second = canonical(parse("tanh(x) * x"))
    started = next(i for i, line in enumerate(lines)
                   if line.startswith(f"[0/1] {second} seed 0: started"))
    assert started < first_done  # batch 1 was in flight while batch 0 trained
    db = _db(out)
    told = {fingerprint(parse(e["text"])): e["score"] for e in db.meta()["evolution"]["population"]}
    assert all(db.batches().values())
    db.close()
    for _, row in trained.iterrows():
        assert told[row["fingerprint"]] == pytest.approx(row[f"{OBJECTIVE}_rung0"])
    assert (trained["rung_reached"] == 2).sum() >= 1  # promotion across the rung on Ray too
