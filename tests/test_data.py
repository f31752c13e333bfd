
import numpy as np
import pytest
from conftest import FIXTURE, tiny_config, write_config

from actsearch.cli import main
from actsearch.config import DataConfig
from actsearch.data import IDX_FILES, download, load_dataset, read_idx, stratified_split
from actsearch.errors import UserError


def test_idx_folder_loads_real_digits_preprocessed_as_the_article():
    data = load_dataset(DataConfig(path=str(FIXTURE)))
    assert data.x_train.shape == (2000, 28, 28, 1) and data.x_test.shape == (500, 28, 28, 1)
    assert data.x_train.dtype == np.float32
    assert 0.0 <= data.x_train.min() < data.x_train.max() <= 1.0
    assert data.y_train.shape == (2000, 10) and np.all(data.y_train.sum(axis=1) == 1)
    raw_labels = read_idx(FIXTURE / IDX_FILES["y_train"])
    np.testing.assert_array_equal(data.y_train.argmax(axis=1), raw_labels)
    assert data.x_val is data.x_test  # validation on the test set, as the article


def test_npz_in_keras_format_loads_and_limits_apply(tmp_path):
    raw = {k: read_idx(FIXTURE / f) for k, f in IDX_FILES.items()}
    np.savez(tmp_path / "mnist.npz", **raw)
    npz = str(tmp_path / "mnist.npz")
    data = load_dataset(DataConfig(path=npz, limit_train=300, limit_test=50))
    assert len(data.x_train) == 300 and len(data.x_test) == 50
    np.testing.assert_array_equal(data.y_train.argmax(1), raw["y_train"][:300])


def test_split_holds_out_each_class_in_proportion_and_never_the_test_set():
    data = load_dataset(DataConfig(path=str(FIXTURE), validation="split", validation_split=0.2))
    assert len(data.x_val) + len(data.x_train) == 2000 and abs(len(data.x_val) - 400) <= 10
    labels = read_idx(FIXTURE / IDX_FILES["y_train"])
    train_idx, val_idx = stratified_split(labels, 0.2, seed=0)
    assert not set(train_idx) & set(val_idx)
    share = np.bincount(labels[val_idx], minlength=10) / np.bincount(labels, minlength=10)
    assert np.all(np.abs(share - 0.2) < 0.02)
    assert len(data.x_test) == 500


@pytest.mark.parametrize("make_bad, message", [
    (lambda p: p / "nothing-here", "does not exist"),
    (lambda p: p, "lacks train-images-idx3-ubyte.gz"),
])
def test_bad_paths_fail_clearly(tmp_path, make_bad, message):
    with pytest.raises(UserError, match=message):
        load_dataset(DataConfig(path=str(make_bad(tmp_path))))


def test_corrupt_files_fail_clearly(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip file")
    with pytest.raises(UserError, match="not a readable .npz"):
        load_dataset(DataConfig(path=str(tmp_path / "bad.npz")))
    for name in IDX_FILES.values():
        (tmp_path / name).write_bytes(b"garbage")
    with pytest.raises(UserError, match="not a readable gzip"):
        load_dataset(DataConfig(path=str(tmp_path)))


@pytest.mark.slow
def test_download_through_http_into_keras_cache_then_train(tmp_path, http_server, monkeypatch,
                                                           capsys):
    import keras.src.backend.config as keras_config

    www, origin = http_server
    raw = {k: read_idx(FIXTURE / f) for k, f in IDX_FILES.items()}
    np.savez(www / "mnist.npz", **{k: v[:300] for k, v in raw.items()})
    out = tmp_path / "out"
    cfg = tiny_config(out)
    cfg["data"] = {"dataset": "mnist", "origin": origin, "limit_train": 200}
    keras_home = tmp_path / "keras-home"
    keras_home.mkdir()  # Keras falls back to /tmp/.keras if it does not exist
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(keras_home))
    assert main(["run", str(write_config(tmp_path / "c.yaml", cfg)), "--quiet"]) == 0, \
        capsys.readouterr().err
    assert (keras_home / "datasets" / "mnist.npz").is_file()  # Keras' cache, as keras.datasets
    assert (out / "summary.csv").is_file()


def test_fashion_mnist_downloads_its_four_idx_files(tmp_path, http_server, monkeypatch):
    www, origin = http_server
    for name in IDX_FILES.values():
        (www / name).write_bytes((FIXTURE / name).read_bytes())
    import keras.src.backend.config as keras_config

    (tmp_path / "keras-home").mkdir()  # Keras falls back to /tmp/.keras if it does not exist
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path / "keras-home"))
    raw = download("fashion_mnist", origin)
    assert raw["x_train"].shape == (2000, 28, 28) and raw["y_test"].shape == (500,)
    assert (tmp_path / "keras-home" / "datasets" / "fashion-mnist" / IDX_FILES["x_test"]).is_file()


def test_no_network_and_no_path_names_both_fixes(tmp_path, monkeypatch):
    import keras.src.backend.config as keras_config

    (tmp_path / "keras-home").mkdir()
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path / "keras-home"))
    with pytest.raises(UserError) as err:
        download("mnist", "http://127.0.0.1:9/")  # discard port: nothing listens
    assert "data.path" in str(err.value) and "network" in str(err.value)
