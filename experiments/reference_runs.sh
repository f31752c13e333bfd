#!/usr/bin/env bash
# The reference results committed under results/reference/, rerun exactly.
# Needs the real data of ../shared/data (see its README); CPU is enough (about 3-4 h on
# 2 cores). Each run resumes if interrupted: rerun this script. Every run uses
# training.shuffle: epoch (a new batch order every epoch), the default since 2026-12-06.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${DATA:-../shared/data}"
split=/tmp/mnist-t10k-split.npz
[ -f "$split" ] || python experiments/make_mnist_t10k_split.py "$data/mnist-t10k" "$split"

# 1. The article's config (the bundled `mnist`) at CPU size, on real MNIST digits:
#    8,000 training and 2,000 test images from the genuine MNIST test set, 12 epochs.
python -m actsearch run mnist --out results/reference/mnist-cpu \
    --set name=mnist-cpu --set data.path="$split" --set training.epochs=12

# 1b. Does the batch order matter? The same protocol for sigmoid and ReLU with 5 seeds, once
#     (Keras 3's seeded fit: one order for the whole run) against epoch (a new order every
#     epoch, as the article's Keras 2): a sweep over training.shuffle, one folder.
python -m actsearch run mnist --out results/reference/mnist-cpu-shuffle \
    --set name=mnist-cpu-shuffle --set data.path="$split" --set training.epochs=12 \
    --set model.activations=[sigmoid,relu] --set training.seeds=[0,1,2,3,4] \
    --set "sweep.training.shuffle=[once,epoch]"

# 2. The rigorous config at CPU size: 4,000 of the 8,000 MNIST training images above
#    (3,600 train / 400 held-out validation), 2,000 test images, 5 seeds, 8 epochs.
python -m actsearch run mnist-rigorous --out results/reference/mnist-rigorous-cpu \
    --set data.path="$split" --set data.limit_train=4000 --set training.epochs=8

# 3. The article's protocol on Fashion-MNIST (same format as MNIST, harder):
#    20,000 of the 60,000 training images, all 10,000 test images, 10 epochs.
python -m actsearch run mnist --out results/reference/fashion-mnist \
    --set name=fashion-mnist --set data.dataset=fashion_mnist \
    --set data.path="$data/fashion-mnist" --set data.limit_train=20000 \
    --set training.epochs=10

# 4. Keras 3's silent form of the loss (binary cross-entropy on the pre-softmax logits) for
#    sigmoid and ReLU, beside step 1: the loss side-by-side in the README.
python -m actsearch run mnist --out results/reference/mnist-cpu-keras3-loss \
    --set name=mnist-cpu-keras3-loss --set data.path="$split" --set training.epochs=12 \
    --set training.loss=binary_crossentropy_on_logits --set model.activations=[sigmoid,relu]

# 5. At which depth each activation stops training (the bundled depth config, on the local
#    copy of Fashion-MNIST).
python -m actsearch run depth --out results/reference/depth --set data.path="$data/fashion-mnist"

# 5b. The loss side-by-side figure of the README, from steps 1 and 4.
python experiments/loss_side_by_side.py

# 6. A search of thousands (configs/search-article.yaml): 2,000 candidates on the MLP and
#    Fashion-MNIST, the article's CNN at the last rung, confirmed on the article's CNN and
#    protocol on the MNIST split of step 1 with 8 seeds against relu, gelu-tanh, elu, swish.
python -m actsearch search search-article --out results/reference/search-article \
    --set data.path="$data/fashion-mnist" --set search.confirm.data.path="$split"

# Keep what a reader needs; the resume state and SVG copies stay out of git.
find results/reference -name '*.svg' -delete
find results/reference -type d -name state -empty -delete
