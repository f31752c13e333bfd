"""`import actsearch` in a plain Python session (a script, a notebook) shows none of
TensorFlow's C++ start-up lines, its device probe's "failed call to cuInit" included; a user
who set TF_CPP_MIN_LOG_LEVEL sees what TensorFlow prints, and stderr stays theirs."""

import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

# written independently of actsearch.tf_output's patterns: what a user must not see
NOISE = re.compile(r"E0000|I0000|W0000|cuInit|cudart|cuDNN|absl|oneDNN|cpu_feature_guard")
SCRIPT = ("import sys, actsearch, tensorflow as tf; tf.constant(1.0) + 1; "
          "print('mine', file=sys.stderr)")


def _python(**env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("TF_CPP_MIN_LOG_LEVEL", "ACTSEARCH_TF_LOGS")}
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          cwd=ROOT, env={**clean, "PYTHONPATH": str(ROOT), **env}, timeout=300)


@pytest.mark.slow
def test_import_in_python_prints_no_tensorflow_start_up_lines():
    done = _python()
    assert done.returncode == 0, done.stderr[-2000:]
    assert [line for line in done.stderr.splitlines() if NOISE.search(line)] == []
    assert done.stderr.splitlines()[-1] == "mine"  # stderr works after the import


@pytest.mark.skipif(sys.platform != "linux", reason="which lines TensorFlow prints depends on "
                    "its build")
@pytest.mark.slow
def test_a_log_level_the_user_set_shows_tensorflow_as_it_is():
    done = _python(TF_CPP_MIN_LOG_LEVEL="0")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "absl::InitializeLog" in done.stderr  # TensorFlow's own first line, unfiltered
