#!/bin/bash
# Command-line tests of slimnn quantize: a small CNN trained on 2,000 Fashion-MNIST images,
# quantized to int8 (calibration methods, --keep-float, --max-drop, --json), the int8 .slim file
# read back by eval, infer, summary and bench, and bad flags refused with nothing written.
# Usage: tests/cli_quantize.sh path/to/slimnn
B=${1:-./build/slimnn}
. "$(dirname "$0")/cli-lib.sh"
[ -d "$DATA" ] || { echo "== skipped: no Fashion-MNIST in $DATA"; echo "0 passed, 0 failed"; exit 0; }
printf 'input x shape=1x28x28\nconv c1 out=8 k=3 pad=1 bias=0\nbn b1\nrelu r1\nmaxpool p1 k=2\n%s\n' \
	'conv c2 out=16 k=3 pad=1\nrelu r2\nmaxpool p2 k=2\nflatten f\nlinear fc1 out=32\nrelu r3\nlinear fc2 out=10' \
	| sed 's/\\n/\n/g' >"$T/small.arch"
expect 0 "saved" "$B" train "$T/small.arch" --limit 2000 --epochs 2 --seed 3 --quiet -o "$T/f.slim"
Q="--limit 1000 --calib 200"

# flags: usage errors, nothing written
expect 0 "--calibration M" "$B" quantize --help
expect 2 "no output file" "$B" quantize "$T/f.slim" $Q
expect 2 "unknown --calibration 'kl'" "$B" quantize "$T/f.slim" $Q --calibration kl -o "$T/x.slim"
expect 2 "--percentile expects" "$B" quantize "$T/f.slim" $Q --calibration percentile --percentile 101 -o "$T/x.slim"
expect 1 "--keep-float: no layer 'b1'" "$B" quantize "$T/f.slim" $Q --keep-float b1 -o "$T/x.slim"
expect 1 "architecture without trained weights" "$B" quantize "$T/small.arch" $Q -o "$T/x.slim"
[ ! -e "$T/x.slim" ] && ok || bad "a refused quantize run left an output file"

# the report: every layer, int8 where a kernel exists, the ReLU after fc1 fused into its range
out=$("$B" quantize "$T/f.slim" $Q -o "$T/q.slim" 2>&1) && ok || bad "quantize failed: $out"
echo "$out" | grep -Eq '^c1 +Conv2d +int8 +[0-9.e-]+ +-128 ' && ok || bad "c1 not int8 with a ReLU's zero point: $out"
echo "$out" | grep -Eq '^fc1 +Linear +int8 +[0-9.e-]+ +-128 +\[0, ' && ok || bad "fc1 did not take r3's range: $out"
echo "$out" | grep -Eq '^r3 +ReLU +int8 +[0-9.e-]+ +-128 ' && ok || bad "r3 row: $out"
echo "$out" | grep -Eq 'parameters: .* \(3\.[6-9][0-9]x smaller\)' && ok || bad "size line: $out"
f=$(echo "$out" | sed -n 's/.*float \([0-9.]*\)%, int8 \([0-9.]*\)%.*/\1 \2/p')
awk -v f="${f% *}" -v q="${f#* }" 'BEGIN { exit !(f > 60 && q > f - 2) }' && ok || bad "accuracy float/int8: $f"

# the file: 4x smaller than float, read back with the same accuracy by eval
fs=$(stat -c %s "$T/f.slim"); qs=$(stat -c %s "$T/q.slim")
[ $((qs * 3)) -lt "$fs" ] && ok || bad "int8 file $qs bytes vs float $fs"
expect 0 "test accuracy ${f#* }% \(1000 images\)" "$B" eval "$T/q.slim" --limit 1000
expect 0 "Model file size" "$B" summary "$T/q.slim"
expect 0 "int8: [0-9]+ of [0-9]+ layers, [0-9,]+ weights of one byte" "$B" summary "$T/q.slim"
expect 0 "\"int8_layers\": [1-9]" "$B" summary "$T/q.slim" --json
expect 0 "c1" "$B" bench "$T/q.slim" --repeats 2
expect 1 "'.*q.slim' is quantized \(int8 layers\): add --qat" "$B" train "$T/q.slim" --limit 200 -o "$T/x.slim"
for c in "lighten --dsc -o $T/x.slim" sensitivity; do
	expect 1 "${c%% *} works on float models, and '.*q.slim' is quantized \(int8 layers\)" "$B" $c "$T/q.slim" --limit 200
done
expect 1 "quantized already" "$B" quantize "$T/q.slim" $Q -o "$T/x.slim"
[ ! -e "$T/x.slim" ] && ok || bad "a refused run left an output file"

# --keep-float, --per-tensor, every calibration method, --json
expect 0 "^c2 +Conv2d +float" "$B" quantize "$T/f.slim" $Q --keep-float c2 -o "$T/k.slim"
for m in minmax percentile entropy; do
	expect 0 "calibration: $m over 200 images" "$B" quantize "$T/f.slim" $Q --calibration $m --per-tensor -o "$T/m.slim"
done
expect 0 '"calibration": "mse", "calib_images": 200.*"name": "c1", "int8": true' "$B" quantize "$T/f.slim" $Q --json -o "$T/j.slim"
# --max-drop 0: layers go back to float until int8 is not below float at all
out=$("$B" quantize "$T/f.slim" $Q --max-drop 0 -o "$T/d.slim" 2>&1) && ok || bad "max-drop failed: $out"
echo "$out" | grep -Eq 'float ([0-9.]+)%, int8 ([0-9.]+)%' && ok || bad "no accuracy line: $out"
echo "$out" | awk '/test accuracy/ { gsub("%,", ""); f = $6; q = $8 } END { exit !(q + 0 >= f + 0) }' && ok \
	|| bad "--max-drop 0 left int8 below float: $out"
# quantization-aware training: the int8 model trained on through its rounding, saved as an int8
# model whose accuracy is the one reported; a checkpoint resumes it; refusals write nothing
out=$("$B" train "$T/q.slim" --qat --limit 1000 --epochs 2 --lr 0.005 --quiet -o "$T/qat.slim" 2>&1) && ok || bad "--qat failed: $out"
acc=$(echo "$out" | sed -n 's/^saved .*: int8 test accuracy \([0-9.]*\)% after.*/\1/p')
[ -n "$acc" ] && ok || bad "no int8 accuracy line: $out"
expect 0 "test accuracy $acc% \(1000 images\)" "$B" eval "$T/qat.slim" --limit 1000
expect 0 "int8: 8 of 8 layers" "$B" summary "$T/qat.slim"
cmp -s "$T/q.slim" "$T/qat.slim" && bad "--qat changed nothing" || ok
"$B" train "$T/q.slim" --qat --limit 500 --epochs 1 --quiet --checkpoint "$T/qck.slim" -o "$T/qa1.slim" >/dev/null 2>&1
expect 0 "resuming at epoch 2 of 2" "$B" train --resume "$T/qck.slim" --epochs 2 --quiet -o "$T/qa2.slim"
expect 0 "int8: 8 of 8 layers" "$B" summary "$T/qa2.slim"
# pruning an int8 model: by weight, fine-tuned quantization-aware, an int8 model with half the
# weights zero, stored sparse; filter pruning (which removes calibrated channels) refused
out=$("$B" prune "$T/q.slim" --target 0.5 --steps 1 --finetune-epochs 1 --limit 1000 -o "$T/pq.slim" 2>&1) && ok || bad "prune of int8 failed: $out"
acc=$(echo "$out" | sed -n 's/^saved .*: test accuracy \([0-9.]*\)%.*/\1/p')
expect 0 "test accuracy $acc% \(1000 images\)" "$B" eval "$T/pq.slim" --limit 1000
sum=$("$B" summary "$T/pq.slim" --json)
echo "$sum" | grep -q '"int8_layers": 8' && ok || bad "pruned model not int8: $sum"
nz=$(echo "$sum" | sed -n 's/.*"nonzero_params": \([0-9]*\).*/\1/p'); pa=$(echo "$sum" | sed -n 's/.*"total_params": \([0-9]*\).*/\1/p')
[ -n "$nz" ] && [ $((nz * 10)) -le $((pa * 6)) ] && ok || bad "pruned int8 model keeps $nz of $pa weights"
[ "$(stat -c %s "$T/pq.slim")" -lt "$(stat -c %s "$T/q.slim")" ] && ok || bad "pruned int8 file not smaller"
# bench runs its pruned Linear through the int8 sparse kernel when told to; auto keeps 50 % dense
expect 0 "^fc1 +Linear .*int8 q8_spmm__" "$B" bench "$T/pq.slim" --sparse force --repeats 2 --warmup 0
expect 0 "^fc1 +Linear .*int8 q8_linear_(gemv|gemm)__" "$B" bench "$T/pq.slim" --repeats 2 --warmup 0
expect 1 "filter and neuron pruning remove channels" "$B" prune "$T/q.slim" --granularity filter --target 0.5 --limit 200 -o "$T/x.slim"
expect 1 "quantization-aware training needs a quantized model" "$B" train "$T/f.slim" --qat --limit 200 -o "$T/x.slim"
expect 2 "--qat-observe" "$B" train "$T/q.slim" --qat --qat-observe x -o "$T/x.slim"
[ ! -e "$T/x.slim" ] && ok || bad "a refused --qat run left an output file"
finish
