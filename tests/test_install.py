"""Installed anywhere: bundled configs by name, the bundled sample as a data set, and a wheel
that runs `actsearch run smoke` from an empty folder in a fresh virtual environment."""

import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import FIXTURE, ROOT

from actsearch.bundled import bundled_configs, resolve_config
from actsearch.cli import main
from actsearch.config import DataConfig, load_config
from actsearch.data import load_dataset
from actsearch.errors import UserError

BUNDLED = ["depth", "mnist", "mnist-quick", "mnist-rigorous", "search-article", "search-fashion",
           "smoke"]


def test_bundled_configs_are_in_the_package_and_load():
    configs = bundled_configs()
    assert list(configs) == BUNDLED
    for name, path in configs.items():
        assert path.parent == ROOT / "configs"  # the checkout's one copy
        assert load_config(path).name == name


def test_no_bundled_config_names_a_local_path():
    """A user's machine has none of this project's folders: bundled configs download their
    data (Keras' cache) or use the shipped sample; our own scripts pass data.path."""
    for name, path in bundled_configs().items():
        data = load_config(path).data
        assert data.path is None and data.loader is None, name


def test_the_cards_command_names_a_bundled_config_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ here: configs/mnist.yaml means the bundled one
    assert resolve_config("configs/mnist.yaml") == bundled_configs()["mnist"]
    monkeypatch.chdir(ROOT)  # in the checkout it is the file itself
    assert resolve_config("configs/mnist.yaml") == Path("configs/mnist.yaml")


def test_a_config_is_a_path_first_then_a_bundled_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_config("smoke") == bundled_configs()["smoke"]
    (tmp_path / "smoke").write_text("name: mine\n")  # a file of that name wins
    assert resolve_config("smoke") == Path("smoke")
    with pytest.raises(UserError, match=r"did you mean mnist-quick\? bundled: depth, mnist, "
                                        r"mnist-quick, mnist-rigorous, search-article, "
                                        r"search-fashion, smoke\)$"):
        resolve_config("mnist-quik")


def test_cli_lists_and_prints_bundled_configs(capsys):
    assert main(["configs"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[:-1]]
    assert listed == BUNDLED
    assert main(["configs", "smoke"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == yaml.safe_load(
        bundled_configs()["smoke"].read_text())
    assert main(["configs", "smok"]) == 2
    assert main(["run", "smok"]) == 2
    assert "neither a file nor a bundled config" in capsys.readouterr().err


def test_the_bundled_sample_is_a_data_set():
    sample = load_dataset(DataConfig(dataset="mnist_sample"))
    by_path = load_dataset(DataConfig(path=str(FIXTURE)))
    assert (len(sample.x_train), len(sample.x_test)) == (2000, 500)
    np.testing.assert_array_equal(sample.x_train, by_path.x_train)
    np.testing.assert_array_equal(sample.y_test, by_path.y_test)
    assert load_config(bundled_configs()["smoke"]).data.dataset == "mnist_sample"


def _fresh_venv_seeing_this_ones_packages(path: Path) -> Path:
    """A new virtual environment with --system-site-packages whose path also lists this
    interpreter's site-packages (TensorFlow etc., nothing downloaded), but not its .pth files,
    so an editable install of actsearch here is invisible there. Returns its python."""
    venv.create(path, system_site_packages=True, with_pip=False)
    python = path / "bin" / "python"
    target = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                             "['purelib'])"], capture_output=True, text=True, check=True)
    ours = {*site.getsitepackages(), sysconfig.get_paths()["purelib"]}
    (Path(target.stdout.strip()) / "outer_site_packages.pth").write_text(
        "\n".join(sorted(ours)) + "\n")
    return python


def _build_wheel(into: Path, scratch: Path) -> Path:
    """The wheel, built offline from a copy of what it is made of (so the build leaves no
    build/ or egg-info in the checkout)."""
    source = scratch / "source"
    for folder in ("actsearch", "configs"):
        shutil.copytree(ROOT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(into), str(source)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = into.glob("actsearch-*.whl")
    return wheel


@pytest.mark.slow
def test_wheel_runs_smoke_from_an_empty_folder_in_a_fresh_venv(tmp_path):
    wheel = _build_wheel(tmp_path / "wheels", tmp_path)
    with zipfile.ZipFile(wheel) as zipped:
        shipped = {name: zipped.read(name) for name in zipped.namelist()}
    configs = {f"actsearch/configs/{p.name}": p.read_bytes()
               for p in (ROOT / "configs").glob("*.yaml")}
    assert configs and {k: v for k, v in shipped.items()
                        if k.startswith("actsearch/configs/")} == configs  # byte-identical
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "actsearch").rglob("*.py")}
    assert modules <= set(shipped), sorted(modules - set(shipped))
    python = _fresh_venv_seeing_this_ones_packages(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_NO_INDEX"] = "1"  # offline: pip may not fetch anything
    # --ignore-installed: an editable actsearch of the outer environment is not "the same"
    installed = subprocess.run([python, "-m", "pip", "install", "--no-deps", "--ignore-installed",
                                str(wheel)], env=env, capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    name, version = wheel.name.split("-")[:2]
    assert re.search(r"Successfully installed (.*)", installed.stdout)[1].split() == [
        f"{name}-{version}"]  # TensorFlow and the rest came from the outer environment
    empty = tmp_path / "empty"
    empty.mkdir()
    where = subprocess.run([python, "-c", "import importlib.util as u; "  # without TensorFlow
                            "print(u.find_spec('actsearch').origin)"],
                           cwd=empty, env=env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(tmp_path / "venv"), where.stdout
    out = tmp_path / "out"
    run = subprocess.run([python, "-m", "actsearch", "run", "smoke", "--quiet",
                          "--set", "training.epochs=1", "--set", "model.activations=[relu,elu]",
                          "--out", str(out)],
                         cwd=empty, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (out / "summary.md").is_file()
    assert list(empty.iterdir()) == []  # nothing written where it ran
