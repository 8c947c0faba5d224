#!/bin/bash
# tools/zoo_ptq.sh — int8 post-training quantization of the zoo's ResNet- and MobileNetV2-style
# models on Fashion-MNIST, against PyTorch's own on the same trained weights (docs/quantize.md).
#
#   bash tools/zoo_ptq.sh [MODEL...]        default: resnet mobilenetv2 (models/MODEL.arch)
#
# For each model, one step after another:
#   1. slimnn train models/MODEL.arch $TRAIN_ARGS --seed 1 --threads $THREADS (skipped when
#      OUT/MODEL.slim exists: delete it to train again); TRAIN_ARGS defaults to the recipe of
#      docs/quantize.md's table: resnet 2 epochs on the first 20,000 training images, mobilenetv2
#      4 epochs on all 60,000 (what fitted a busy 2-core machine), others 4 epochs;
#   2. tools/torch_ptq_compare.py: slimnn quantize per channel and --per-tensor, and PyTorch's FX
#      post-training quantization per channel and per tensor on each of its engines, all with the
#      same 512 calibration images and the whole test split (OUT/MODEL.json; slimnn's int8 files
#      in OUT/MODEL/);
#   3. slimnn eval of both int8 files (the saved models give the reported accuracy);
#   4. where per-channel int8 loses more than $MAX_DROP points: slimnn quantize --max-drop, and
#      quantization-aware training of the per-channel model (train --qat, $QAT_EPOCHS epoch(s)).
# Environment: OUT (zoo-ptq), DATA (Debian's Fashion-MNIST), TRAIN_ARGS, THREADS (1: a fixed
# count, since the trained bits depend on it), MAX_DROP (0.5), QAT_EPOCHS (1), CALIB (512).
# Training dominates the time: about 11 minutes of CPU on one core for the MobileNetV2, less for the ResNet.
set -euo pipefail
cd "$(dirname "$0")/.."
B=./build/slimnn
PY=/usr/bin/python3
OUT=${OUT:-zoo-ptq}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
THREADS=${THREADS:-1}
MAX_DROP=${MAX_DROP:-0.5}
QAT_EPOCHS=${QAT_EPOCHS:-1}
CALIB=${CALIB:-512}
[ -x "$B" ] || make -s "$B"
mkdir -p "$OUT"
[ $# -gt 0 ] || set -- resnet mobilenetv2
acc() { sed -n 's/.*"accuracy": \([0-9.]*\).*/\1/p' | head -n 1 | awk '{ printf "%.2f", 100 * $1 }'; }
for m in "$@"; do
	echo "== $m"
	case $m in
	resnet) recipe="--epochs 2 --limit 20000" ;;
	*) recipe="--epochs 4" ;;
	esac
	if [ ! -f "$OUT/$m.slim" ]; then
		# shellcheck disable=SC2086  # the recipe is a list of options
		(set -x; $B train "models/$m.arch" --data "$DATA" ${TRAIN_ARGS:-$recipe} --seed 1 --threads "$THREADS" --quiet -o "$OUT/$m.slim")
	fi
	(set -x; $PY tools/torch_ptq_compare.py "$OUT/$m.slim" "models/$m.arch" --data "$DATA" --calib "$CALIB" \
		--threads "$THREADS" --keep "$OUT/$m") | tee "$OUT/$m.json"
	f=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["slimnn"]["float"])' "$OUT/$m.json")
	for q in int8 int8-per-tensor; do
		echo "slimnn eval $OUT/$m/$q.slim: $($B eval "$OUT/$m/$q.slim" --data "$DATA" --json | acc) %"
	done
	q=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["slimnn"]["int8_per_channel"])' "$OUT/$m.json")
	if awk -v f="$f" -v q="$q" -v d="$MAX_DROP" 'BEGIN { exit !(f - q > d) }'; then
		echo "-- per-channel int8 loses more than $MAX_DROP points ($f -> $q): --max-drop and QAT"
		(set -x; $B quantize "$OUT/$m.slim" --data "$DATA" --calib "$CALIB" --max-drop "$MAX_DROP" \
			-o "$OUT/$m/int8-maxdrop.slim") | tail -n 4
		(set -x; $B train "$OUT/$m/int8.slim" --qat --data "$DATA" --epochs "$QAT_EPOCHS" --lr 0.005 --seed 1 \
			--threads "$THREADS" --quiet -o "$OUT/$m/int8-qat.slim")
	fi
done
