"""The Python API, report.html in a real headless browser, and the notebook run headlessly."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from conftest import ROOT, tiny_config, write_config

import actsearch
import actsearch.errors

REQUIRE_BROWSER = os.environ.get("ACTSEARCH_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "out"
    cfg = tiny_config(out, model={"architecture": "mlp", "depth": 2, "width": 32,
                                  "activations": ["relu", "sigmoid"]},
                      training={"seeds": [0, 1]}, diagnostics={"enabled": True})
    return actsearch.run(cfg, overrides={"training.epochs": 2}, quiet=True)


@pytest.mark.slow
def test_api_returns_dataframes_and_a_figure(finished):
    assert len(finished.summary) == 4 and set(finished.summary["seed"]) == {0, 1}
    assert len(finished.histories) == 8 and finished.histories["epoch"].max() == 2
    assert list(finished.statistics["rank"]) == [1, 2]
    fig = finished.plot()
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2
    again = actsearch.load_results(finished.path)
    assert again.config == finished.config
    assert again.summary.equals(finished.summary)
    assert "## Ranking" in again._repr_markdown_()


@pytest.mark.slow
def test_api_refuses_bad_overrides_like_the_cli(finished):
    with pytest.raises(actsearch.errors.UserError, match="did you mean training.epochs"):
        actsearch.run(finished.config, overrides={"training.epoch": 1})


@pytest.mark.slow
def test_report_html_is_self_contained(finished):
    page = finished.report.read_text()
    # 4 curves + 2 without sigmoid + 2 diagnostics figures
    assert page.count('src="data:image/png;base64,') == 8
    assert "Inside the networks" in page
    assert "http://" not in page and "https://" not in page  # nothing fetched from anywhere
    assert "How sure is the ranking?" in page and "<pre>name: tiny" in page


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None and not REQUIRE_BROWSER,
                    reason="no chromium (CI installs it and sets ACTSEARCH_REQUIRE_BROWSER=1)")
@pytest.mark.slow
def test_report_opens_in_a_headless_browser_with_every_plot_loaded(finished, tmp_path):
    browser = _chromium()
    assert browser, "ACTSEARCH_REQUIRE_BROWSER=1 but no chromium on PATH"
    url = finished.report.resolve().as_uri()

    def chromium(*args: str) -> subprocess.CompletedProcess:
        profile = tempfile.mkdtemp(dir=tmp_path)
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}"]
        return subprocess.run([browser, *flags, *args, url], capture_output=True, text=True,
                              timeout=120)

    dom = chromium("--virtual-time-budget=3000", "--dump-dom").stdout
    assert 'data-images-loaded="8"' in dom and 'data-images-total="8"' in dom
    shot = tmp_path / "report.png"
    chromium("--window-size=1200,1600", f"--screenshot={shot}")
    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (1600, 1200)
    # the plots' coloured curves are on screen: tab10 blue (31,119,180) somewhere
    blue = np.all(np.abs(pixels - np.array([31, 119, 180]) / 255) < 0.08, axis=-1)
    assert blue.sum() > 200


@pytest.mark.slow
def test_notebook_runs_headlessly_with_a_tiny_config(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    cfg = write_config(tmp_path / "nb.yaml", tiny_config(
        tmp_path / "unused", model={"architecture": "mlp", "depth": 1, "width": 16}))
    nb = nbformat.read(ROOT / "experiments" / "activation_comparison.ipynb", as_version=4)
    os.environ["ACTSEARCH_NOTEBOOK_CONFIG"] = str(cfg)
    os.environ["ACTSEARCH_NOTEBOOK_OUT"] = str(tmp_path / "nb-out")
    try:
        nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                resources={"metadata": {"path": str(ROOT / "experiments")}}
                                ).execute()
    finally:
        del os.environ["ACTSEARCH_NOTEBOOK_CONFIG"], os.environ["ACTSEARCH_NOTEBOOK_OUT"]
    assert (tmp_path / "nb-out" / "plots" / "val_accuracy.png").is_file()
    assert Path(str(tmp_path / "nb-out") + ".zip").is_file()
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the accuracy and loss plots, inline
    printed = [o.get("text", "") for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", [])]
    assert f"results go to {tmp_path / 'nb-out'}\n" in printed  # USE_DRIVE off outside Colab
