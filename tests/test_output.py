"""The CLI's output: actsearch's lines and Keras' progress, none of TensorFlow's C++ noise;
TensorFlow's own lines come back on request, and nothing else is ever swallowed."""

import re
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT, run_cli, tiny_config, write_config

from actsearch.tf_output import is_tensorflow_noise, launched_as_cli

TF_OUTPUT = ROOT / "actsearch" / "tf_output.py"
# written independently of actsearch.tf_output's patterns: what a user must not see
NOISE = re.compile(r"E0000|cuInit|cudart|cuDNN|absl|oneDNN|node_def_util|cpu_feature_guard")


def noise_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if NOISE.search(line)]


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """One CLI run of relu and elu (config path, results dir, the finished process)."""
    tmp = tmp_path_factory.mktemp("output")
    out = tmp / "out"
    path = write_config(tmp / "c.yaml", tiny_config(
        out, model={"activations": ["relu", "elu"]}, data={"limit_train": 128}))
    return path, out, run_cli("run", str(path))


@pytest.mark.slow
def test_a_run_shows_progress_and_no_tensorflow_noise(ran):
    _, _, done = ran
    assert done.returncode == 0, done.stderr[-2000:]
    assert noise_lines(done.stderr) == [] and noise_lines(done.stdout) == []
    assert done.stderr == ""
    assert "[2/2] elu seed 0: done" in done.stdout and "step" in done.stdout  # Keras' line


@pytest.mark.slow
def test_quiet_shows_only_actsearch_lines(ran):
    path, out, _ = ran
    grown = run_cli("run", str(path), "--quiet", "--set", "model.activations=[relu,elu,tanh]")
    assert grown.returncode == 0, grown.stderr[-2000:]
    assert (out / "trials" / "tanh-seed0.json").is_file()
    for line in (grown.stdout + grown.stderr).splitlines():
        assert line.startswith("actsearch"), line
    refused = run_cli("run", str(path), "--quiet", "--set", "training.epochs=2")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.startswith("actsearch: error: ") and refused.stderr.count("\n") == 1


@pytest.mark.skipif(sys.platform != "linux", reason="which lines TensorFlow prints depends on "
                    "its build; Linux builds probe CUDA and report CPU features")
@pytest.mark.slow
def test_tensorflow_lines_come_back_on_request(ran):
    asked = run_cli("list", env={"ACTSEARCH_TF_LOGS": "1"})
    assert asked.returncode == 0 and noise_lines(asked.stderr), asked.stderr
    path, _, _ = ran
    verbose = run_cli("run", str(path), "--verbose")  # finished: skips every trial
    assert verbose.returncode == 0, verbose.stderr[-2000:]
    assert noise_lines(verbose.stderr)


SAMPLES = [  # as TensorFlow 2.16-2.21 print them
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795460890.693051    3484 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.",
    "E0000 00:00:1795460920.364587    3624 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "E0000 00:00:1795460921.812917    3624 node_def_util.cc:682] NodeDef mentions attribute "
    "use_unbounded_threadpool which is not in the op definition: Op<name=MapDataset; ...>",
    "E0000 00:00:1732390000.100000    1234 cuda_dnn.cc:8310] Unable to register cuDNN factory: "
    "Attempting to register factory for plugin cuDNN when one has already been registered",
    "E0000 00:00:1732390000.100000    1234 cuda_blas.cc:1418] Unable to register cuBLAS factory",
    "2024-05-01 12:00:00.123456: I tensorflow/core/util/port.cc:113] oneDNN custom operations "
    "are on. You may see slightly different numerical results due to floating-point round-off",
    "W0000 00:00:1732390000.100000    1234 computation_placer.cc:177] computation placer already "
    "registered. Please check linkage and avoid linking the same target more than once.",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow "
    "with the appropriate compiler flags.",
    # a Ray worker's lines, as Ray forwards them to the driver
    "\x1b[36m(pid=13107)\x1b[0m WARNING: All log messages before absl::InitializeLog() is "
    "called are written to STDERR\x1b[32m [repeated 3x across cluster]\x1b[0m",
    "(TrialActor pid=13171, ip=10.0.0.2) I0000 00:00:1795462273.874032   13171 "
    "cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.",
]
KEPT = [
    "actsearch: error: results/x is in use by another actsearch run (pid 1 on h, since t)",
    "Traceback (most recent call last):",
    '  File "actsearch/training.py", line 12, in fit',
    "RuntimeError: failed call to cuInit",
    "E0000 00:00:1732390000.100000    1234 bfc_allocator.cc:485] Allocator (GPU_0_bfc) ran out "
    "of memory trying to allocate 2.0GiB",
    "E0000 00:00:1732390000.100000    1234 node_def_util.cc:682] NodeDef mentions attribute "
    "some_new_attribute which is not in the op definition",
    "\x1b[36m(pid=13107)\x1b[0m Traceback (most recent call last):",
    "",
]


def test_the_filter_drops_known_noise_and_nothing_else():
    assert [s for s in SAMPLES if not is_tensorflow_noise(s)] == []
    assert [k for k in KEPT if is_tensorflow_noise(k)] == []


def test_the_filter_forwards_tracebacks_and_the_last_unfinished_line_before_exit():
    script = textwrap.dedent(f"""
        import importlib.util, os, sys
        # the module alone (stdlib only): importing the package would load TensorFlow first
        spec = importlib.util.spec_from_file_location("tf_output", {str(TF_OUTPUT)!r})
        tf_output = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(tf_output)
        tf_output.StderrFilter()
        os.write(2, {(SAMPLES[0] + chr(10) + SAMPLES[3] + chr(10)).encode()!r})  # C++ writes fd 2
        print("kept: python", file=sys.stderr)
        os.write(2, b"kept: c++" + {chr(10).encode()!r} + {SAMPLES[2].encode()!r} + b"\\n")
        sys.stderr.write("last words, no newline")
        sys.stderr.flush()
        raise RuntimeError("boom")
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[:2] == ["kept: python", "kept: c++"]
    assert lines[2].startswith("last words, no newline")
    assert "Traceback (most recent call last):" in done.stderr
    assert lines[-1] == "RuntimeError: boom"
    assert noise_lines(done.stderr) == []


def test_only_the_command_line_is_filtered():
    assert launched_as_cli(["/usr/bin/python3", "-m", "actsearch", "run", "c.yaml"])
    assert launched_as_cli(["python", "-mactsearch", "list"])
    assert not launched_as_cli(["python", "-m", "pytest", "tests"])
    assert not launched_as_cli(["python", "-m", "ipykernel_launcher", "-f", "k.json"])
