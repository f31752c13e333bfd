"""The article's loss against Keras 3's silent form of it, on the same seed and data: sigmoid
and ReLU validation accuracy and loss per epoch from results/reference/mnist-cpu (the
article's binary cross-entropy on the probabilities) and results/reference/mnist-cpu-keras3-loss
(what loss='binary_crossentropy' trains in Keras 3). Writes
results/reference/loss_side_by_side.png.

    python experiments/loss_side_by_side.py
"""

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parent.parent / "results" / "reference"
RUNS = {"the article's loss (binary cross-entropy on the probabilities)": "mnist-cpu",
        "Keras 3's 'binary_crossentropy' (on the pre-softmax logits)": "mnist-cpu-keras3-loss"}


def main() -> None:
    fig = Figure(figsize=(12, 4.6), dpi=110)
    axes = fig.subplots(1, 2)
    for (label, folder), style in zip(RUNS.items(), ("-", "--"), strict=True):
        for activation, color in (("sigmoid", "tab:blue"), ("relu", "tab:orange")):
            hist = pd.read_csv(ROOT / folder / "histories" / f"{activation}-seed0.csv")
            for ax, column in zip(axes, ("val_categorical_accuracy", "val_loss"), strict=True):
                ax.plot(hist["epoch"], hist[column], style, color=color, marker="o", ms=3,
                        label=f"{activation}, {label}")
    axes[0].set_ylabel("validation accuracy (10-class)")
    axes[1].set_ylabel("validation loss (each run's own loss)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7.5, loc="lower right")
    fig.suptitle("Same network, seed and 8,000 MNIST digits: only the loss's form differs")
    fig.tight_layout()
    out = ROOT / "loss_side_by_side.png"
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
