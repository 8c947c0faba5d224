#!/bin/bash
# make demo: the main job end to end on Fashion-MNIST — analyse the baseline CNN, train it with
# the default recipe, evaluate it, and compare it with its depthwise-separable sibling.
set -e
cd "$(dirname "$0")/.."
B=./build/slimnn
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
OUT=${OUT:-demo}
EPOCHS=${EPOCHS:-10}
mkdir -p "$OUT"
echo "== 1. the baseline CNN: 97% of its parameters sit in the classifier head"
$B summary models/cnn.arch --macs
echo
echo "== 2. train it on Fashion-MNIST ($EPOCHS epochs, default recipe: SGD+Nesterov, one-cycle, random crop)"
time $B train models/cnn.arch --data "$DATA" --epochs "$EPOCHS" -o "$OUT/cnn.slim"
echo
echo "== 3. evaluate it"
$B eval "$OUT/cnn.slim" --data "$DATA"
echo
echo "== 4. the same net with conv2 as depthwise + pointwise, side by side"
$B summary "$OUT/cnn.slim" models/cnn-dsc.arch
