#!/bin/bash
# make demo: the main job end to end on Fashion-MNIST — analyse the baseline CNN, train it with
# the default recipe, evaluate it, then lighten it (depthwise-separable + distillation) and prune
# it (95 % of the weights, sparse storage), comparing each result with the original; then the
# same steps on a small folder of images with class names.
# EPOCHS (10), DATA and OUT (demo/) may be set in the environment.
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
echo
echo "== 5. lighten: conv2 -> depthwise + pointwise from the SVD of its kernel, 2 epochs of distillation"
$B lighten "$OUT/cnn.slim" --dsc --data "$DATA" --finetune-epochs 2 -o "$OUT/cnn-dsc.slim"
$B summary "$OUT/cnn.slim" "$OUT/cnn-dsc.slim"
echo
echo "== 6. prune: 96% of the prunable weights (95.6% of all) to zero in 3 rounds with fine-tuning, stored sparse"
$B prune "$OUT/cnn.slim" --data "$DATA" --granularity weight --target 0.96 --steps 3 --finetune-epochs 1 -o "$OUT/cnn-pruned.slim"
$B summary "$OUT/cnn.slim" "$OUT/cnn-pruned.slim"
echo
echo "== 7. your own images: an image folder (train/<class>/*.png, val/<class>/*.jpg of mixed sizes),"
echo "==    trained, lightened and pruned on it, evaluated and queried with its class names"
IMG=tests/fixtures/data/folder
printf 'input x shape=3x8x8\nconv c1 out=16 k=3 pad=1\nbn b1\nrelu r1\nconv c2 out=16 k=3 pad=1\nbn b2\nrelu r2\ngap g\nflatten f\nlinear fc out=3\n' >"$OUT/tiny.arch"
$B train "$OUT/tiny.arch" --data "$IMG" --epochs 3 --batch 8 --lr 0.1 --quiet -o "$OUT/folder.slim"
$B lighten "$OUT/folder.slim" --dsc --min-saving 0 --data "$IMG" --finetune-epochs 1 --batch 8 --quiet -o "$OUT/folder-dsc.slim"
$B prune "$OUT/folder.slim" --data "$IMG" --granularity filter --target 0.5 --steps 1 --finetune-epochs 1 --batch 8 --ignore fc --quiet -o "$OUT/folder-pruned.slim"
$B eval "$OUT/folder-pruned.slim" --data "$IMG"
$B infer "$OUT/folder.slim" --input "$IMG/val/bee/01.jpg" --top 3
