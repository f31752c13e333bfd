"""Your data: the image sets of keras.datasets (CIFAR through a local HTTP mirror), .npz files
of any image shape, data.loader, arrays through the API, and one-line refusals of data sets
that do not fit together. Real digits from the shipped fixture only."""

import io
import pickle
import tarfile

import numpy as np
import pytest
from conftest import FIXTURE, ROOT, tiny_config, write_config
from user_data import real_digits_32x32x3

import actsearch
from actsearch.cli import main
from actsearch.config import DataConfig
from actsearch.data import IDX_FILES, download, load_dataset, read_idx
from actsearch.errors import UserError


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    import keras.src.backend.config as keras_config

    home = tmp_path / "keras-home"
    home.mkdir()  # Keras falls back to /tmp/.keras if it does not exist
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(home))
    return home


def _cifar_batch(x: np.ndarray, y: np.ndarray, label_key: bytes) -> bytes:
    """A batch in the CIFAR python format: bytes keys, rows of 3072 bytes in channel order."""
    rows = x.transpose(0, 3, 1, 2).reshape(len(x), -1)
    return pickle.dumps({b"batch_label": b"test", label_key: [int(v) for v in y],
                         b"data": rows, b"filenames": [b"x.png"] * len(x)}, protocol=3)


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _tiny_cifar10(www, per_batch=40):
    """cifar-10-python.tar.gz of real digits (32x32x3, classes 0-4): five train batches and
    a test batch, as the real archive lays them out."""
    (x_train, y_train), (x_test, y_test) = real_digits_32x32x3()
    members = {f"cifar-10-batches-py/data_batch_{i}": _cifar_batch(
        x_train[(i - 1) * per_batch: i * per_batch], y_train[(i - 1) * per_batch: i * per_batch],
        b"labels") for i in range(1, 6)}
    members["cifar-10-batches-py/test_batch"] = _cifar_batch(x_test[:60], y_test[:60], b"labels")
    (www / "cifar-10-python.tar.gz").write_bytes(_tar_gz(members))
    return x_train[: 5 * per_batch], y_train[: 5 * per_batch], x_test[:60], y_test[:60]


def test_cifar10_and_cifar100_download_into_keras_cache_and_read_as_keras_does(
        http_server, keras_home):
    www, origin = http_server
    x_train, y_train, x_test, y_test = _tiny_cifar10(www)
    raw = download("cifar10", origin)
    np.testing.assert_array_equal(raw["x_train"], x_train)  # (N, 32, 32, 3), channels last
    np.testing.assert_array_equal(raw["y_train"], y_train)
    np.testing.assert_array_equal(raw["x_test"], x_test)
    np.testing.assert_array_equal(raw["y_test"], y_test)
    assert (keras_home / "datasets" / "cifar-10-batches-py-target").is_dir()  # as keras.datasets
    (www / "cifar-100-python.tar.gz").write_bytes(_tar_gz({
        "cifar-100-python/train": _cifar_batch(x_train, y_train, b"fine_labels"),
        "cifar-100-python/test": _cifar_batch(x_test, y_test, b"fine_labels")}))
    raw = download("cifar100", origin)
    np.testing.assert_array_equal(raw["x_train"], x_train)
    np.testing.assert_array_equal(raw["y_test"], y_test)


def test_cifar10_through_the_cli_from_a_mirror(tmp_path, http_server, keras_home, capsys):
    www, origin = http_server
    _tiny_cifar10(www)
    out = tmp_path / "out"
    cfg = tiny_config(out, data={"path": None, "dataset": "cifar10", "origin": origin,
                                 "limit_train": None, "limit_test": None},
                      model={"architecture": "mlp", "depth": 1, "width": 16})
    code = main(["run", str(write_config(tmp_path / "c.yaml", cfg))])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "200 train, 60 test, 32x32x3 images, 5 classes" in printed.out
    assert (keras_home / "datasets" / "cifar-10-batches-py-target_archive").is_file()
    assert (out / "summary.csv").is_file()


def test_a_mirror_that_lacks_the_archive_names_both_fixes(http_server, keras_home):
    _, origin = http_server
    with pytest.raises(UserError) as err:
        download("cifar10", origin)
    assert "cifar-10-python.tar.gz" in str(err.value) and "data.path" in str(err.value)


def test_npz_of_any_image_shape_float_as_is_uint8_scaled_one_hot_or_integer_labels(tmp_path):
    (x_train, y_train), (x_test, y_test) = real_digits_32x32x3()
    np.savez(tmp_path / "rgb.npz", x_train=x_train, y_train=y_train, x_test=x_test,
             y_test=np.eye(5)[y_test])  # one-hot test labels, integer training labels
    data = load_dataset(DataConfig(path=str(tmp_path / "rgb.npz")))
    assert data.input_shape == (32, 32, 3) and data.num_classes == 5
    np.testing.assert_allclose(data.x_train, x_train / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data.y_test.argmax(1), y_test)
    assert data.y_train.shape == (len(y_train), 5)
    gray = (x_train[..., 0].astype("float64") - 127.5) / 10.0  # floats, not in [0, 1]
    np.savez(tmp_path / "gray.npz", x_train=gray, y_train=y_train[:, None],
             x_test=gray[:10], y_test=y_train[:10])
    data = load_dataset(DataConfig(path=str(tmp_path / "gray.npz")))
    assert data.input_shape == (32, 32, 1) and data.x_train.dtype == np.float32
    np.testing.assert_allclose(data.x_train[..., 0], gray, rtol=1e-6)  # used as they are


def test_classes_are_counted_before_the_limits():
    raw = {k: read_idx(FIXTURE / f) for k, f in IDX_FILES.items()}
    first = int(np.flatnonzero(raw["y_train"] == 9)[0])
    data = load_dataset(DataConfig(path=str(FIXTURE), limit_train=first))  # no 9 in train
    assert 9 not in data.y_train.argmax(1) and data.num_classes == 10


def test_data_loader_returns_the_arrays(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    data = load_dataset(DataConfig(loader="user_data:digits_32x32x3", limit_train=100))
    assert len(data.x_train) == 100 and data.input_shape == (32, 32, 3)
    assert data.num_classes == 5


def test_arrays_through_the_api_then_the_cli_cannot_resume_without_them(tmp_path, capsys):
    raw = {k: read_idx(FIXTURE / f) for k, f in IDX_FILES.items()}
    keep = raw["y_train"] % 2 == 0  # even digits: labels 0, 2, ..., 8
    arrays = (raw["x_train"][keep][:200], raw["y_train"][keep][:200] // 2,
              raw["x_test"][:100][raw["y_test"][:100] % 2 == 0],
              raw["y_test"][:100][raw["y_test"][:100] % 2 == 0] // 2)
    out = tmp_path / "out"
    cfg = tiny_config(out, model={"architecture": "mlp", "depth": 1, "width": 8})
    res = actsearch.run(cfg, data=arrays, quiet=True)
    assert res.summary["status"].tolist() == ["ok"]
    assert res.config.data.dataset == "arrays" and res.config.data.path is None
    (out / "trials").joinpath(next(p.name for p in (out / "trials").iterdir())).unlink()
    assert main(["run", str(out / "config.yaml"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "actsearch.run(data=...)" in err and "\n" not in err


def _digits(n_train=200, n_test=50):
    (x_train, y_train), (x_test, y_test) = real_digits_32x32x3()
    return [x_train[:n_train], y_train[:n_train], x_test[:n_test], y_test[:n_test]]


def _with(index, value):
    arrays = _digits()
    arrays[index] = value(arrays[index])
    return tuple(arrays)


@pytest.mark.parametrize("arrays, message", [
    (_with(1, lambda y: y[:-1]), "x_train has 200 images but y_train has 199 labels"),
    (_with(2, lambda x: x[:, :28, :28]), "x_train images are (32, 32, 3) but x_test images "
                                         "are (28, 28, 3)"),
    (_with(3, lambda y: np.where(y == 0, 7, y)), "y_test has label 7, outside the training "
                                                 "labels' classes 0-4"),
    (_with(1, lambda y: y + 0.5), "y_train has non-integer labels (e.g. "),
    (_with(1, lambda y: y.astype(np.int64) - 1), "y_train has a negative label (-1)"),
    (_with(1, lambda y: np.eye(5)[y] * 0.9), "y_train has shape (200, 5) but is not one-hot"),
    (_with(0, lambda x: x.astype(np.int64)), "x_train is int64; want uint8 pixels"),
    (_with(0, lambda x: np.where(x == 0, np.nan, x / 255.0)), "x_train has non-finite values"),
    (_with(0, lambda x: x.reshape(len(x), -1)), "x_train has shape (200, 3072); want images"),
    (_with(1, lambda y: np.zeros_like(y)), "the training labels have a single class"),
    ((1, 2, 3), "data= gave tuple; want (x_train, y_train, x_test, y_test)"),
])
def test_inconsistent_arrays_are_one_line_errors(arrays, message):
    with pytest.raises(UserError) as err:
        load_dataset(DataConfig(), arrays)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_too_few_images_of_a_class_for_a_stratified_split():
    x_train, y_train, x_test, y_test = _digits()
    keep = np.concatenate([np.flatnonzero(y_train != 3), np.flatnonzero(y_train == 3)[:4]])
    arrays = (x_train[keep], y_train[keep], x_test, y_test)
    with pytest.raises(UserError, match="cannot split class 3: it has 4 training images"):
        load_dataset(DataConfig(validation="split", validation_split=0.1), arrays)
    assert len(load_dataset(DataConfig(validation="split", validation_split=0.25),
                            arrays).x_val) > 0


@pytest.mark.parametrize("loader, message", [
    ("user_data:three_arrays", "data.loader user_data:three_arrays gave tuple"),
    ("user_data:broken", "data.loader user_data:broken raised RuntimeError: the share is not "
                         "mounted"),
    ("user_data:missing", "data.loader 'user_data:missing': user_data has no attribute"),
])
def test_bad_loaders_are_one_line_errors(loader, message, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    with pytest.raises(UserError) as err:
        load_dataset(DataConfig(loader=loader))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_bad_data_on_the_cli_is_one_line_and_claims_no_folder(tmp_path, capsys):
    x_train, y_train, x_test, y_test = _digits()
    np.savez(tmp_path / "bad.npz", x_train=x_train, y_train=y_train[:150], x_test=x_test,
             y_test=y_test)
    out = tmp_path / "out"
    cfg = tiny_config(out, data={"path": str(tmp_path / "bad.npz")})
    assert main(["run", str(write_config(tmp_path / "c.yaml", cfg))]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0
    assert "x_train has 200 images but y_train has 150 labels" in err
    assert not out.exists()
