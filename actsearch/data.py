"""Data: image data sets from Keras' download cache, local files, a loader function or arrays.

Images are (N, H, W) or (N, H, W, C), uint8 (scaled to [0, 1], as the article) or float (used
as they are); they become float32 with a channel axis. Labels are integers or one-hot; they
become one-hot. The input shape and the number of classes come from the data. A data set that
cannot be read or downloaded, or whose arrays do not fit together, is a one-line UserError
before anything trains; there is no silent fallback to other data.
"""

from __future__ import annotations

import gzip
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from actsearch.bundled import sample_data
from actsearch.config import DataConfig
from actsearch.errors import UserError
from actsearch.registry import Registry, import_function

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CIFAR_ORIGIN = "https://www.cs.toronto.edu/~kriz/"  # where keras.datasets.cifar10/100 download
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
ARRAYS = "arrays"  # data.dataset of a run whose arrays were given to actsearch.run(data=...)

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x_train, y_train, x_test, y_test
Reader = Callable[[list[Path]], dict[str, np.ndarray]]


@dataclass(frozen=True)
class KerasDownload:
    """A data set as keras.datasets fetches it (same files, origin and cache folder, so the
    cache is shared with plain Keras code). `archive`: get_file's name for a .tar.gz that it
    extracts (the folder in the cache); `read`: the downloaded paths -> the four arrays
    (default: one .npz, or the four IDX files)."""

    files: tuple[str, ...]
    cache_subdir: str
    origin: str = KERAS_ORIGIN
    archive: str | None = None
    sha256: str | None = None  # of the file at `origin`; a mirror (data.origin) is not checked
    read: Reader | None = None


@dataclass(frozen=True)
class LocalSample:
    """A data set shipped inside the package (read_local's formats), so it needs no network."""

    folder: Path


DATASETS: Registry[KerasDownload | LocalSample] = Registry("data set")
DATASETS.register("mnist", KerasDownload(("mnist.npz",), "datasets"))
DATASETS.register("fashion_mnist", KerasDownload(tuple(IDX_FILES.values()),
                                                 "datasets/fashion-mnist"))
# 2,000 train / 500 test real digits cut from the MNIST test set (sample_data/README.md)
DATASETS.register("mnist_sample", LocalSample(sample_data("mnist-mini")))
_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
SPLIT_SEED = 0  # the held-out split is the same for every trial, so trials compare fairly


@dataclass
class Dataset:
    """Preprocessed arrays. With validation 'test', x_val/y_val are the test set itself."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    validation: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One image's shape, (H, W, C): what a builder's model takes."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return int(self.y_train.shape[1])

    def describe(self) -> str:
        val = "the test set" if self.validation == "test" else f"{len(self.x_val)} held out"
        shape = "x".join(map(str, self.input_shape))
        return (f"{len(self.x_train)} train, {len(self.x_test)} test, {shape} images, "
                f"{self.num_classes} classes, validation on {val}")


def load_dataset(cfg: DataConfig, arrays: Any = None) -> Dataset:
    """The configured data (or `arrays`, given to the API), checked, limited, preprocessed
    and split."""
    raw, source = read_source(cfg, arrays)
    x_train, y_train, x_test, y_test, num_classes = checked_arrays(raw, source)
    x_train, y_train = x_train[: cfg.limit_train], y_train[: cfg.limit_train]
    x_test, y_test = x_test[: cfg.limit_test], y_test[: cfg.limit_test]
    x_train, y_train = preprocess_images(x_train), one_hot(y_train, num_classes)
    x_test, y_test = preprocess_images(x_test), one_hot(y_test, num_classes)
    x_val, y_val = x_test, y_test
    if cfg.validation == "split":
        train_idx, val_idx = stratified_split(y_train.argmax(axis=1), cfg.validation_split,
                                              SPLIT_SEED)
        x_val, y_val = x_train[val_idx], y_train[val_idx]
        x_train, y_train = x_train[train_idx], y_train[train_idx]
    return Dataset(x_train, y_train, x_val, y_val, x_test, y_test, validation=cfg.validation)


def read_source(cfg: DataConfig, arrays: Any = None) -> tuple[dict[str, np.ndarray], str]:
    """(the four raw arrays, how errors name where they came from): `arrays` if given, else
    data.path, data.loader or data.dataset, in that order."""
    if arrays is not None:
        return arrays_dict(arrays, "data="), "data="
    if cfg.path:
        return read_local(Path(cfg.path)), f"data.path {cfg.path}"
    if cfg.loader:
        return call_loader(cfg.loader), f"data.loader {cfg.loader}"
    if cfg.dataset == ARRAYS:
        raise UserError("data.dataset arrays: this run's arrays were given to "
                        "actsearch.run(data=...) in Python; give them there again, or set "
                        "data.path or data.loader")
    source = DATASETS.get(cfg.dataset)
    if isinstance(source, LocalSample):
        return read_local(source.folder), f"data set {cfg.dataset}"
    return download(cfg.dataset, cfg.origin), f"data set {cfg.dataset}"


def arrays_dict(value: Any, where: str) -> dict[str, np.ndarray]:
    """(x_train, y_train, x_test, y_test), Keras' ((x_train, y_train), (x_test, y_test)) or a
    mapping with those keys -> a dict of the four."""
    if isinstance(value, dict) and all(k in value for k in NPZ_KEYS):
        return {k: value[k] for k in NPZ_KEYS}
    if isinstance(value, (tuple, list)):
        if len(value) == 2 and all(isinstance(v, (tuple, list)) and len(v) == 2 for v in value):
            value = (*value[0], *value[1])
        if len(value) == 4:
            return dict(zip(NPZ_KEYS, value, strict=True))
    raise UserError(f"{where} gave {type(value).__name__}; want (x_train, y_train, x_test, "
                    f"y_test) or ((x_train, y_train), (x_test, y_test))")


def call_loader(target: str) -> dict[str, np.ndarray]:
    """data.loader: a user's `module:function` that returns the four arrays."""
    fn = import_function(target, "data.loader")
    try:
        value = fn()
    except Exception as exc:  # noqa: BLE001 - the user's code: say what it raised, in one line
        text = str(exc).strip().splitlines()
        raise UserError(f"data.loader {target} raised {type(exc).__name__}"
                        f"{': ' + text[0] if text else ''}") from None
    return arrays_dict(value, f"data.loader {target}")


def checked_arrays(raw: dict[str, Any], source: str
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """(x_train, integer y_train, x_test, integer y_test, number of classes) when the arrays
    fit together; else a one-line UserError that names `source` and what is wrong."""
    xs = {key: _images(raw[key], key, source) for key in ("x_train", "x_test")}
    if xs["x_train"].shape[1:] != xs["x_test"].shape[1:]:
        raise UserError(f"{source}: x_train images are {xs['x_train'].shape[1:]} but x_test "
                        f"images are {xs['x_test'].shape[1:]}")
    labels, widths = {}, {}
    for split in ("train", "test"):
        labels[split], widths[split] = _labels(raw[f"y_{split}"], f"y_{split}", source)
        n_images, n_labels = len(xs[f"x_{split}"]), len(labels[split])
        if n_images != n_labels:
            raise UserError(f"{source}: x_{split} has {n_images} images but y_{split} has "
                            f"{n_labels} labels")
    num_classes = widths["train"] or int(labels["train"].max()) + 1
    if num_classes < 2:
        raise UserError(f"{source}: the training labels have a single class; want at least two")
    if widths["test"] and widths["test"] != num_classes:
        raise UserError(f"{source}: y_test is one-hot over {widths['test']} classes, y_train "
                        f"over {num_classes}")
    if labels["test"].max() >= num_classes:
        raise UserError(f"{source}: y_test has label {labels['test'].max()}, outside the "
                        f"training labels' classes 0-{num_classes - 1}")
    return xs["x_train"], labels["train"], xs["x_test"], labels["test"], num_classes


def _images(x: Any, key: str, source: str) -> np.ndarray:
    try:
        x = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{source}: {key} is not an array: {exc}") from None
    if x.ndim not in (3, 4):
        raise UserError(f"{source}: {key} has shape {x.shape}; want images (N, H, W) or "
                        f"(N, H, W, C)")
    if len(x) == 0:
        raise UserError(f"{source}: {key} is empty")
    if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
        raise UserError(f"{source}: {key} is {x.dtype}; want uint8 pixels (scaled to [0, 1]) "
                        f"or floats (used as they are)")
    if x.dtype != np.uint8 and not np.isfinite(x).all():
        raise UserError(f"{source}: {key} has non-finite values (NaN or infinity)")
    return x


def _labels(y: Any, key: str, source: str) -> tuple[np.ndarray, int | None]:
    """(integer labels, the one-hot width or None for integer labels)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)
            or y.dtype == np.bool_):
        raise UserError(f"{source}: {key} is {y.dtype}; want integer labels or one-hot rows")
    if len(y) == 0:
        raise UserError(f"{source}: {key} is empty")
    if y.ndim == 2:
        if not (np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
            raise UserError(f"{source}: {key} has shape {y.shape} but is not one-hot (each row "
                            f"a single 1 among 0s)")
        return y.argmax(axis=1), int(y.shape[1])
    if y.ndim != 1:
        raise UserError(f"{source}: {key} has shape {y.shape}; want (N,) integer labels or "
                        f"(N, classes) one-hot")
    if not np.issubdtype(y.dtype, np.integer):
        odd = y[~np.isfinite(y) | (y != np.round(y))] if y.dtype != np.bool_ else y[:0]
        if len(odd):
            raise UserError(f"{source}: {key} has non-integer labels (e.g. {odd[0]})")
    labels = y.astype(np.int64)
    if labels.min() < 0:
        raise UserError(f"{source}: {key} has a negative label ({labels.min()})")
    return labels, None


def preprocess_images(x: np.ndarray) -> np.ndarray:
    """float32 with a channel axis; uint8 pixels scaled to [0, 1], floats as they are."""
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.dtype == np.uint8:
        return x.astype("float32") / np.float32(255.0)
    return x.astype("float32")


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return np.eye(num_classes, dtype="float32")[labels.astype("int64")]


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """Indices (train, held-out) with each class held out in the same proportion; a class
    too small to give both sides an image is a one-line error."""
    rng = np.random.default_rng(seed)
    held = []
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n_held = int(round(fraction * len(idx)))
        if n_held == 0 or n_held == len(idx):
            raise UserError(f"data.validation_split={fraction} cannot split class {cls}: it has "
                            f"{len(idx)} training images, too few to hold out that share and "
                            f"train on the rest")
        held.append(idx[:n_held])
    val_idx = np.sort(np.concatenate(held))
    train_idx = np.setdiff1d(np.arange(len(labels)), val_idx)
    return train_idx, val_idx


def read_local(path: Path) -> dict[str, np.ndarray]:
    """An .npz with x_train, y_train, x_test, y_test, or a folder with the four IDX .gz files."""
    if path.is_file():
        return _read_npz(path)
    if path.is_dir():
        missing = [name for name in IDX_FILES.values() if not (path / name).is_file()]
        if missing:
            raise UserError(f"data.path {path} lacks {', '.join(missing)} (want the four "
                            f"MNIST-format IDX .gz files, or an .npz)")
        return {key: read_idx(path / name) for key, name in IDX_FILES.items()}
    raise UserError(f"data.path {path} does not exist")


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as npz:
            missing = [k for k in NPZ_KEYS if k not in npz]
            if missing:
                raise UserError(f"{path} lacks arrays {', '.join(missing)} (Keras' mnist.npz "
                                f"format has {', '.join(NPZ_KEYS)})")
            return {k: npz[k] for k in NPZ_KEYS}
    except (OSError, ValueError, EOFError) as exc:
        raise UserError(f"{path} is not a readable .npz file: {exc}") from None


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (gzip-compressed): unsigned bytes, big-endian dimensions."""
    try:
        with gzip.open(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:
        raise UserError(f"{path} is not a readable gzip file: {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise UserError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4).astype(int)
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise UserError(f"{path} is truncated: header says {tuple(dims)}, has {body.size} bytes")
    return body.reshape(tuple(dims))


def read_npz_or_idx(paths: list[Path]) -> dict[str, np.ndarray]:
    """A download of one .npz (mnist) or of the four IDX files (fashion_mnist)."""
    if len(paths) == 1:
        return _read_npz(paths[0])
    return {key: read_idx(p) for key, p in zip(IDX_FILES, paths, strict=True)}


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays and nothing else, so a tampered file cannot run code (as
    keras.datasets' RestrictedUnpickler)."""

    ALLOWED = frozenset({("numpy", "ndarray"), ("numpy", "dtype"),
                         ("numpy.core.multiarray", "_reconstruct"),
                         ("numpy._core.multiarray", "_reconstruct")})

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_cifar_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch of the CIFAR python version -> (uint8 images (N, 32, 32, 3), labels),
    as keras.datasets.cifar.load_batch reads it (channels last, as Keras' default)."""
    try:
        with open(path, "rb") as fh:
            batch = _ArrayUnpickler(fh, encoding="bytes").load()
        batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
        images = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch[label_key])
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, KeyError,
            ValueError) as exc:
        raise UserError(f"{path} is not a CIFAR python batch: {type(exc).__name__}: "
                        f"{exc}") from None
    return images.transpose(0, 2, 3, 1), labels


def _cifar(folder: Path, train: list[str], test: str, label_key: str
           ) -> dict[str, np.ndarray]:
    parts = [read_cifar_batch(folder / name, label_key) for name in train]
    x_test, y_test = read_cifar_batch(folder / test, label_key)
    return {"x_train": np.concatenate([x for x, _ in parts]),
            "y_train": np.concatenate([y for _, y in parts]), "x_test": x_test, "y_test": y_test}


def read_cifar10(paths: list[Path]) -> dict[str, np.ndarray]:
    folder = paths[0] / "cifar-10-batches-py"
    return _cifar(folder, [f"data_batch_{i}" for i in range(1, 6)], "test_batch", "labels")


def read_cifar100(paths: list[Path]) -> dict[str, np.ndarray]:
    """The 100 fine labels (keras.datasets.cifar100's default label_mode)."""
    return _cifar(paths[0] / "cifar-100-python", ["train"], "test", "fine_labels")


DATASETS.register("cifar10", KerasDownload(
    ("cifar-10-python.tar.gz",), "datasets", origin=CIFAR_ORIGIN,
    archive="cifar-10-batches-py-target", read=read_cifar10,
    sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"))
DATASETS.register("cifar100", KerasDownload(
    ("cifar-100-python.tar.gz",), "datasets", origin=CIFAR_ORIGIN,
    archive="cifar-100-python-target", read=read_cifar100,
    sha256="85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"))


def download(dataset: str, origin: str | None) -> dict[str, np.ndarray]:
    """Fetch into Keras' cache (~/.keras/datasets) like keras.datasets does, once; `origin`
    replaces the download base URL (a mirror)."""
    import keras

    source = DATASETS.get(DATASETS.canonical(dataset, "data.dataset"))
    base = (origin or source.origin).rstrip("/") + "/"
    known = source.sha256 or (_MNIST_SHA256 if source.files == ("mnist.npz",) else None)
    paths = []
    for fname in source.files:
        try:
            paths.append(Path(keras.utils.get_file(
                source.archive or fname, origin=base + fname, cache_subdir=source.cache_subdir,
                extract=source.archive is not None,
                file_hash=known if origin is None else None)))
        except Exception as exc:  # get_file raises bare Exception on network failure
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UserError(
                f"cannot download {dataset} from {base + fname} ({reason}); "
                f"give a local copy with --set data.path=PATH (an .npz of x_train, y_train, "
                f"x_test, y_test or a folder of IDX .gz files) or run with a working network"
            ) from None
    return (source.read or read_npz_or_idx)(paths)
