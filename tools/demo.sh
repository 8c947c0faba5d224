#!/bin/bash
# make demo: the main job end to end on Fashion-MNIST — analyse the baseline CNN, train it with
# the default recipe, evaluate it, then lighten it (depthwise-separable + distillation), prune
# it (96 % of the weights, sparse storage; 60 % of the filters), quantize it to int8, comparing
# each result with the original, and end with a table of every model's accuracy, size and
# latency measured in the same run; then the same steps on a small folder of images.
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
echo "== 7. prune filters: 60% of conv1's and conv2's filters removed in 3 rounds: a smaller dense model"
$B prune "$OUT/cnn.slim" --data "$DATA" --granularity filter --target 0.6 --steps 3 --finetune-epochs 1 --quiet -o "$OUT/cnn-filter.slim"
echo
echo "== 8. quantize to int8 (512 calibration images): the baseline, and the weight-pruned model (int8 + sparse)"
$B quantize "$OUT/cnn.slim" --data "$DATA" -o "$OUT/cnn-int8.slim" | tail -n 3
$B quantize "$OUT/cnn-pruned.slim" --data "$DATA" -o "$OUT/cnn-pruned-int8.slim" | tail -n 3
echo
echo "== 9. what each model costs, measured now: test accuracy, parameters, file, and latency"
echo "==    (slimnn bench, $(nproc) threads, the fastest of two rounds run in opposite orders)"
MODELS="cnn cnn-dsc cnn-filter cnn-pruned cnn-int8 cnn-pruned-int8"
field() { grep -o "\"$1\": [0-9.e+-]*" | head -n 1 | sed 's/.*: //'; }
lat() { $B bench "$OUT/$1.slim" --batch "$2" --repeats 30 --json | field min_ms; }
declare -A L1 L32
for m in $MODELS $(echo $MODELS | tr ' ' '\n' | tac); do
	a=$(lat "$m" 1); b=$(lat "$m" 32)
	L1[$m]=$(awk -v a="$a" -v o="${L1[$m]:-1e9}" 'BEGIN { print (a < o ? a : o) }')
	L32[$m]=$(awk -v a="$b" -v o="${L32[$m]:-1e9}" 'BEGIN { print (a < o ? a : o) }')
done
printf '%-18s %8s %11s %11s %11s %12s %12s\n' model top-1 parameters non-zero "file bytes" "batch 1 ms" "batch 32 ms"
for m in $MODELS; do
	acc=$($B eval "$OUT/$m.slim" --data "$DATA" --json | field accuracy)
	sum=$($B summary "$OUT/$m.slim" --json)
	printf '%-18s %7.2f%% %11s %11s %11s %12.3f %12.3f\n' "$m" "$(awk -v a="$acc" 'BEGIN { print 100 * a }')" \
		"$(echo "$sum" | field total_params)" "$(echo "$sum" | field nonzero_params)" "$(stat -c %s "$OUT/$m.slim")" "${L1[$m]}" "${L32[$m]}"
done
echo
echo "== 10. your own images: an image folder (train/<class>/*.png, val/<class>/*.jpg of mixed sizes),"
echo "==    trained, lightened and pruned on it, evaluated and queried with its class names"
IMG=tests/fixtures/data/folder
printf 'input x shape=3x8x8\nconv c1 out=16 k=3 pad=1\nbn b1\nrelu r1\nconv c2 out=16 k=3 pad=1\nbn b2\nrelu r2\ngap g\nflatten f\nlinear fc out=3\n' >"$OUT/tiny.arch"
$B train "$OUT/tiny.arch" --data "$IMG" --epochs 3 --batch 8 --lr 0.1 --quiet -o "$OUT/folder.slim"
$B lighten "$OUT/folder.slim" --dsc --min-saving 0 --data "$IMG" --finetune-epochs 1 --batch 8 --quiet -o "$OUT/folder-dsc.slim"
$B prune "$OUT/folder.slim" --data "$IMG" --granularity filter --target 0.5 --steps 1 --finetune-epochs 1 --batch 8 --ignore fc --quiet -o "$OUT/folder-pruned.slim"
$B eval "$OUT/folder-pruned.slim" --data "$IMG"
$B infer "$OUT/folder.slim" --input "$IMG/val/bee/01.jpg" --top 3
