#!/bin/bash
# Command-line tests: what a user meets. Usage: tests/cli.sh path/to/slimnn
B=${1:-./build/slimnn}
. "$(dirname "$0")/cli-lib.sh"

# usage and help
expect 2 "usage: slimnn" "$B"
expect 0 "commands:" "$B" --help
for c in train eval infer summary; do expect 0 "usage: slimnn $c" "$B" $c --help; done
expect 2 "unknown command 'frobnicate'" "$B" frobnicate
expect 2 "unknown option '--bogus'" "$B" summary models/cnn.arch --bogus
expect 2 "--epochs expects an integer" "$B" train models/cnn.arch --epochs ten -o "$T/x.slim"
expect 2 "no output file" "$B" train models/cnn.arch
expect 2 "option --data needs a value" "$B" eval models/cnn.arch --data

# the seed arithmetic, in torchsummary's layout
expect 0 "^ +Conv2d-1 +\[-1, 32, 16, 16\] +864$" "$B" summary models/seed/conv.arch
expect 0 "^Total params: 27$" "$B" summary models/seed/depthwise.arch
expect 0 "^Total params: 96$" "$B" summary models/seed/pointwise.arch
expect 0 "^Total params: 123$" "$B" summary models/seed/separable.arch
expect 0 "^Total params: 824,554$" "$B" summary models/cnn.arch
expect 0 "Total mult-adds \(M\): 4.64" "$B" summary models/cnn.arch --macs
expect 0 "\"total_params\": 824554" "$B" summary models/cnn.arch --json
expect 0 "params .*824,554 → 808,522 .*\(1.02×\)" "$B" summary models/cnn.arch models/cnn-dsc.arch
printf 'input x shape=3x8x8\nconv c out=4 k=3 pad=1\nsilu s\nconv d out=4 k=1\ngelu g\n' >"$T/act.arch"
expect 0 "^ +SiLU-2 +\[-1, 4, 8, 8\] +0$" "$B" summary "$T/act.arch"
expect 0 "^ +GELU-4 +\[-1, 4, 8, 8\] +0 +0 " "$B" summary "$T/act.arch" --macs

# bad input: clear messages, non-zero exits, no crashes
expect 1 "/nonexistent-dir.*dataset-fashion-mnist" "$B" eval models/cnn.arch --data /nonexistent-dir
printf 'input x shape=1x28x28\nconv c1 out=8 k=3 strid=2\n' >"$T/bad.arch"
expect 1 "bad.arch:2:[0-9]+: .*strid" "$B" summary "$T/bad.arch"
expect 1 "pool2.*\[-1, 64, 1, 1\].*\[-1, 64, 0, 0\]" "$B" summary models/cnn.arch --input 1x2x2
expect 1 "missing.slim" "$B" eval "$T/missing.slim"

# a tiny training run, then damaged copies of its model file
expect 0 "saved .*m.slim" "$B" train models/cnn.arch --epochs 1 --limit 500 --quiet -o "$T/m.slim"
[ ! -e "$T/m.slim.ckpt" ] && ok || bad "the checkpoint was left behind after a successful run"
expect 0 "\"accuracy\": 0\.[0-9]+" "$B" eval "$T/m.slim" --limit 200 --json
size=$(stat -c %s "$T/m.slim")
head -c $((size / 2)) "$T/m.slim" >"$T/half.slim"
cp "$T/m.slim" "$T/flip.slim"; printf '\xff' | dd of="$T/flip.slim" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
expect 1 "half.slim" "$B" eval "$T/half.slim" --limit 10
expect 1 "flip.slim.*(checksum|damaged|corrupt)" "$B" eval "$T/flip.slim" --limit 10
: >"$T/empty.slim"
expect 1 "empty.slim" "$B" summary "$T/empty.slim"

# no partial output: an unwritable destination fails cleanly and leaves nothing behind
expect 1 "nodir" "$B" train models/cnn.arch --epochs 1 --limit 200 --quiet -o "$T/nodir/m.slim"
[ -z "$(ls "$T" | grep -E '\.tmp')" ] && ok || bad "temporary files left behind: $(ls "$T")"

# infer: .npy in, .npy out
{ printf '\x93NUMPY\x01\x00\x76\x00'; h="{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 28, 28), }";
  pad=$((128 - 10 - ${#h} - 1)); printf '%s' "$h"; printf '%*s' $pad ''; printf '\n';
  head -c $((2 * 784 * 4)) /dev/zero; } >"$T/x.npy"
expect 0 "" "$B" infer "$T/m.slim" --input "$T/x.npy" --output "$T/y.npy"
[ "$(head -c 6 "$T/y.npy" | tail -c 5)" = "NUMPY" ] && grep -aq "(2, 10)" "$T/y.npy" && ok || bad "infer wrote no [2, 10] .npy"
expect 1 "has shape \[2, 1, 28, 28\] but the model expects \[-1, 3, 16, 16\]" "$B" infer models/seed/conv.arch --input "$T/x.npy" --output "$T/z.npy"
[ ! -e "$T/z.npy" ] && ok || bad "a failed infer left an output file"

# ONNX: export a trained model, use the .onnx wherever a model goes, same logits
expect 0 "usage: slimnn export" "$B" export --help
expect 0 "" "$B" export "$T/m.slim" -o "$T/m.onnx"
expect 0 "^Total params: 824,554$" "$B" summary "$T/m.onnx"
expect 0 "" "$B" infer "$T/m.onnx" --input "$T/x.npy" --output "$T/y2.npy"
cmp -s "$T/y.npy" "$T/y2.npy" && ok || bad "the exported ONNX model gives other logits than the .slim"
# circular padding goes out as torch 2's Slice/Concat chain (ONNX's own needs opset 19) and comes back
printf 'input x shape=1x28x28\nconv c out=2 k=3 pad=1,2,0,3 mode=circular\n' >"$T/circ.arch"
expect 0 "" "$B" export "$T/circ.arch" -o "$T/circ.onnx"
expect 0 "" "$B" infer "$T/circ.arch" --input "$T/x.npy" --output "$T/yc1.npy"
expect 0 "" "$B" infer "$T/circ.onnx" --input "$T/x.npy" --output "$T/yc2.npy"
cmp -s "$T/yc1.npy" "$T/yc2.npy" && ok || bad "the exported circular conv computes something else"
expect 1 "no_dir" "$B" export "$T/circ.arch" -o "$T/no_dir/circ.onnx"
[ ! -e "$T/no_dir/circ.onnx" ] && ok || bad "a failed export left a file"
head -c 100 "$T/m.onnx" >"$T/cut.onnx"
expect 1 "cut.onnx" "$B" summary "$T/cut.onnx"

# resume: 1 epoch + resume to 2 equals 2 straight epochs (constant schedule: same lr path)
r="--limit 300 --quiet --schedule const --lr 0.02"
"$B" train models/cnn.arch --epochs 2 $r -o "$T/a.slim" >/dev/null 2>&1
"$B" train models/cnn.arch --epochs 1 $r --checkpoint "$T/ck.slim" -o "$T/b1.slim" >/dev/null 2>&1
expect 0 "resuming at epoch 2 of 2" "$B" train --resume "$T/ck.slim" --epochs 2 --quiet -o "$T/b.slim"
a=$("$B" eval "$T/a.slim" --limit 300 --json 2>&1); b=$("$B" eval "$T/b.slim" --limit 300 --json 2>&1)
[ "${a#*samples}" = "${b#*samples}" ] && ok || bad "resumed run differs from the straight run: $a / $b"

finish
