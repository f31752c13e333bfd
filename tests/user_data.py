"""A user's own data loader, imported by tests as `user_data:digits_32x32x3`."""

from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).resolve().parent.parent / "actsearch" / "sample_data" / "mnist-mini"
CLASSES = 5


def real_digits_32x32x3(classes: int = CLASSES):
    """The fixture's real MNIST digits of classes 0..classes-1, padded to 32x32 and repeated
    to three channels (uint8, as CIFAR): ((x_train, y_train), (x_test, y_test))."""
    from actsearch.data import IDX_FILES, read_idx

    raw = {k: read_idx(FIXTURE / f) for k, f in IDX_FILES.items()}
    out = []
    for split in ("train", "test"):
        keep = raw[f"y_{split}"] < classes
        x = np.pad(raw[f"x_{split}"][keep], ((0, 0), (2, 2), (2, 2)))
        out.append((np.repeat(x[..., np.newaxis], 3, axis=3), raw[f"y_{split}"][keep]))
    return tuple(out)


def digits_32x32x3():
    return real_digits_32x32x3()


def three_arrays():
    (x_train, y_train), (x_test, _) = real_digits_32x32x3()
    return x_train, y_train, x_test


def broken():
    raise RuntimeError("the share is not mounted")
