"""Build an MNIST-format .npz from the genuine MNIST test set, for CPU-sized runs offline.

The full MNIST training set is not available on machines without internet; its test
set (10,000 real digits) is. This splits it into 8,000 "train" and 2,000 "test" images
(no overlap) in Keras' mnist.npz format, so `data.path` can point at it:

    python experiments/make_mnist_t10k_split.py ../shared/data/mnist-t10k /tmp/mnist-t10k-split.npz
    python -m actsearch run mnist-rigorous --set data.path=/tmp/mnist-t10k-split.npz
"""

import sys
from pathlib import Path

import numpy as np

from actsearch.data import read_idx

TRAIN = 8000


def main(src: str, dest: str) -> None:
    x = read_idx(Path(src) / "t10k-images-idx3-ubyte.gz")
    y = read_idx(Path(src) / "t10k-labels-idx1-ubyte.gz")
    np.savez_compressed(dest, x_train=x[:TRAIN], y_train=y[:TRAIN], x_test=x[TRAIN:],
                        y_test=y[TRAIN:])
    print(f"wrote {dest}: {TRAIN} train, {len(x) - TRAIN} test images")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
