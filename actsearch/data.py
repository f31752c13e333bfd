"""Data: MNIST-format data sets from Keras' download cache or from local files.

Preprocessing is the article's: 28x28x1 float32 in [0, 1], one-hot labels. When a
data set can be neither read nor downloaded the error names both fixes; there is no
silent fallback to other data.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actsearch.bundled import sample_data
from actsearch.config import DataConfig
from actsearch.errors import UserError
from actsearch.registry import Registry

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class KerasDownload:
    """A data set as keras.datasets fetches it (same files, same cache folder, so the cache is
    shared with plain Keras code)."""

    files: tuple[str, ...]
    cache_subdir: str


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
NUM_CLASSES = 10
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

    def describe(self) -> str:
        val = "the test set" if self.validation == "test" else f"{len(self.x_val)} held out"
        return f"{len(self.x_train)} train, {len(self.x_test)} test, validation on {val}"


def load_dataset(cfg: DataConfig) -> Dataset:
    if cfg.path:
        raw = read_local(Path(cfg.path))
    elif isinstance(source := DATASETS.get(cfg.dataset), LocalSample):
        raw = read_local(source.folder)
    else:
        raw = download(cfg.dataset, cfg.origin)
    x_train, y_train = raw["x_train"][: cfg.limit_train], raw["y_train"][: cfg.limit_train]
    x_test, y_test = raw["x_test"][: cfg.limit_test], raw["y_test"][: cfg.limit_test]
    x_train, y_train = preprocess_images(x_train), one_hot(y_train)
    x_test, y_test = preprocess_images(x_test), one_hot(y_test)
    x_val, y_val = x_test, y_test
    if cfg.validation == "split":
        train_idx, val_idx = stratified_split(y_train.argmax(axis=1), cfg.validation_split,
                                              SPLIT_SEED)
        x_val, y_val = x_train[val_idx], y_train[val_idx]
        x_train, y_train = x_train[train_idx], y_train[train_idx]
    return Dataset(x_train, y_train, x_val, y_val, x_test, y_test, validation=cfg.validation)


def preprocess_images(x: np.ndarray) -> np.ndarray:
    return x.reshape(-1, 28, 28, 1).astype("float32") / np.float32(255.0)


def one_hot(y: np.ndarray) -> np.ndarray:
    return np.eye(NUM_CLASSES, dtype="float32")[y.astype("int64")]


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """Indices (train, held-out) with each class held out in the same proportion."""
    rng = np.random.default_rng(seed)
    held = []
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        held.append(idx[: int(round(fraction * len(idx)))])
    val_idx = np.sort(np.concatenate(held))
    if len(val_idx) == 0 or len(val_idx) == len(labels):
        raise UserError(f"data.validation_split={fraction} leaves an empty train or held-out set")
    train_idx = np.setdiff1d(np.arange(len(labels)), val_idx)
    return train_idx, val_idx


def read_local(path: Path) -> dict[str, np.ndarray]:
    """A Keras-format mnist.npz, or a folder with the four IDX .gz files."""
    if path.is_file():
        return _read_npz(path)
    if path.is_dir():
        missing = [name for name in IDX_FILES.values() if not (path / name).is_file()]
        if missing:
            raise UserError(f"data.path {path} lacks {', '.join(missing)} (want the four "
                            f"MNIST IDX .gz files or an mnist.npz)")
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
    except (OSError, ValueError) as exc:
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


def download(dataset: str, origin: str | None) -> dict[str, np.ndarray]:
    """Fetch into Keras' cache (~/.keras/datasets) like keras.datasets does, once."""
    import keras

    source = DATASETS.get(dataset)
    base = (origin or KERAS_ORIGIN).rstrip("/") + "/"
    paths = []
    for fname in source.files:
        file_hash = _MNIST_SHA256 if (fname == "mnist.npz" and origin is None) else None
        try:
            paths.append(Path(keras.utils.get_file(
                fname, origin=base + fname, cache_subdir=source.cache_subdir,
                file_hash=file_hash)))
        except Exception as exc:  # get_file raises bare Exception on network failure
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UserError(
                f"cannot download {dataset} from {base + fname} ({reason}); "
                f"give a local copy with --set data.path=PATH (an mnist.npz or a folder of "
                f"IDX .gz files) or run with a working network"
            ) from None
    if dataset == "mnist":
        return _read_npz(paths[0])
    return {key: read_idx(p) for key, p in zip(IDX_FILES, paths, strict=True)}
