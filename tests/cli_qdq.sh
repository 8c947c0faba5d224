#!/bin/bash
# Command-line tests of QDQ ONNX (docs/onnx.md): an int8 model (a small CNN trained on 2,000
# Fashion-MNIST images, quantized with one conv kept float) exported as QDQ, read back by summary,
# infer, eval and bench with the same int8 bytes as the .slim file, exported again, and corrupt
# QDQ files refused with a message, a non-zero exit and no output file.
# Usage: tests/cli_qdq.sh path/to/slimnn
B=${1:-./build/slimnn}
. "$(dirname "$0")/cli-lib.sh"
[ -d "$DATA" ] || { echo "== skipped: no Fashion-MNIST in $DATA"; echo "0 passed, 0 failed"; exit 0; }
F=$(dirname "$0")/fixtures/onnx/qdq
printf 'input x shape=1x28x28\nconv c1 out=8 k=3 pad=1 bias=0\nbn b1\nrelu r1\nmaxpool p1 k=2\n%s\n' \
	'conv c2 out=16 k=3 pad=1\nrelu6 r2\nhardswish h\nconv c3 out=16 k=1\nmaxpool p2 k=2\nflatten f\nlinear fc1 out=32\nrelu r3\nlinear fc2 out=10' \
	| sed 's/\\n/\n/g' >"$T/small.arch"
expect 0 "saved" "$B" train "$T/small.arch" --limit 2000 --epochs 1 --seed 3 --quiet -o "$T/f.slim"
expect 0 "wrote" "$B" quantize "$T/f.slim" --limit 1000 --calib 200 --keep-float c3 -o "$T/q.slim"

# the export: QDQ nodes, the same int8 layers when read back
expect 0 "wrote .*q.onnx" "$B" export "$T/q.slim" -o "$T/q.onnx"
grep -q QuantizeLinear "$T/q.onnx" && grep -q DequantizeLinear "$T/q.onnx" && ok || bad "no QDQ nodes in the export"
expect 0 "int8: 10 of 12 layers" "$B" summary "$T/q.onnx"   # the fused ReLUs come back as layers; h, c3 float
# the same bytes out of the .slim and the QDQ file, and out of the QDQ file exported again
expect 0 "^" "$B" infer "$T/q.slim" --input "$F/x.npy" --output "$T/ys.npy"
expect 0 "^" "$B" infer "$T/q.onnx" --input "$F/x.npy" --output "$T/yo.npy"
cmp -s "$T/ys.npy" "$T/yo.npy" && ok || bad "the QDQ import computes other outputs than the int8 .slim"
expect 0 "wrote" "$B" export "$T/q.onnx" -o "$T/q2.onnx"
expect 0 "^" "$B" infer "$T/q2.onnx" --input "$F/x.npy" --output "$T/y2.npy"
cmp -s "$T/ys.npy" "$T/y2.npy" && ok || bad "the QDQ file exported again computes other outputs"
acc=$("$B" eval "$T/q.slim" --limit 1000 2>&1 | grep -o 'test accuracy [0-9.]*%')
expect 0 "$acc" "$B" eval "$T/q.onnx" --limit 1000
expect 0 "c2" "$B" bench "$T/q.onnx" --repeats 2
# a float model still exports without QDQ
expect 0 "wrote" "$B" export "$T/f.slim" -o "$T/f.onnx"
grep -q QuantizeLinear "$T/f.onnx" && bad "a float model exported QDQ nodes" || ok

# corrupt QDQ files: a message naming the node, exit 1, nothing written
for m in scale_zero zero_point_range axis_length missing_initializer uint8_weight qlinearconv; do
	expect 1 "ONNX node [0-9]+ .*$(head -c 20 "$F/bad/$m.expect")" "$B" export "$F/bad/$m.onnx" -o "$T/bad.onnx"
	expect 1 "$(head -c 20 "$F/bad/$m.expect")" "$B" infer "$F/bad/$m.onnx" --input "$F/x.npy" --output "$T/bad.npy"
done
[ ! -e "$T/bad.onnx" ] && [ ! -e "$T/bad.npy" ] && ok || bad "a refused QDQ file left an output file"
finish
