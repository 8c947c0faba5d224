#!/bin/bash
# Command-line tests of transfer learning (slimnn train --num-classes, --freeze-backbone, --input) on
# an imported torchvision model: tests/fixtures/transfer/resnet18 (tools/gen_transfer_fixtures.py,
# 3x64x64, 10 classes) trained on the six CIFAR-10 images of tests/fixtures/arrays/cifar10.
# Usage: tests/cli_transfer.sh path/to/slimnn
B=${1:-./build/slimnn}
. "$(dirname "$0")/cli-lib.sh"
M=tests/fixtures/transfer/resnet18/model.onnx
D=tests/fixtures/arrays/cifar10
R="--data $D --batch 4 --quiet --schedule const --lr 0.05"
N="$R --input 3x32x32 --num-classes 12"   # the transfer runs: a 12-way head, CIFAR's 32x32

# tensor FILE NAME BYTES: the hex of initializer NAME of an ONNX file slimnn exported (its name, then
# raw_data's tag, length and BYTES of data; NAME must not end another tensor's name)
tensor() {
	local off n=$(($3 < 128 ? 2 : 3))
	off=$(grep -obUaF -- "$2" "$1" | tail -n 1 | cut -d: -f1)
	[ -n "$off" ] && tail -c +$((off + 1)) "$1" | head -c $((${#2} + n + $3)) | od -An -tx1 | tr -d ' \n'
}
# same A.onnx B.onnx NAME BYTES: 0 when the tensor is there and equal in both
same() { local a b; a=$(tensor "$1" "$3" "$4"); b=$(tensor "$2" "$3" "$4"); [ -n "$a" ] && [ "$a" = "$b" ]; }

# bad flags: usage errors, nothing written
expect 0 "--num-classes K .*classifier" "$B" train --help
expect 2 "--num-classes expects an integer in \[1, 1048576\], got '0'" "$B" train $M $R --num-classes 0 -o "$T/x.slim"
expect 2 "--input expects CxHxW .*got '3x0x4'" "$B" train $M $R --input 3x0x4 -o "$T/x.slim"
expect 2 "--freeze-backbone expects an integer .*got '-1'" "$B" train $M $R --freeze-backbone -1 -o "$T/x.slim"
# no classifier to replace or to train alone; a locked model whose weights do not fit a new input
printf 'input x shape=3x32x32\nconv c1 out=4 k=3\nrelu r\n' >"$T/nohead.arch"
expect 1 "--num-classes: no classifier found: the model ends with 'r' \(ReLU\)" \
	"$B" train "$T/nohead.arch" $R --num-classes 3 -o "$T/x.slim"
expect 1 "--freeze-backbone: no classifier found" "$B" train "$T/nohead.arch" $R --freeze-backbone 1 -o "$T/x.slim"
printf 'input x shape=3x8x8\nconv c1 out=4 k=3\nflatten f\nlinear fc out=10\n' >"$T/flat.arch"
expect 0 "saved" "$B" train "$T/flat.arch" $R --input 3x32x32 --epochs 1 -o "$T/flat.slim"
expect 1 "layer 'fc'.*does not fit this input" "$B" train "$T/flat.slim" $R --input 3x16x16 --epochs 1 -o "$T/x.slim"
# fewer outputs than classes: the data check names the fix
expect 1 "has 5 outputs but the data set has 10 classes.*--num-classes 10" "$B" train $M $R --input 3x32x32 --num-classes 5 -o "$T/x.slim"
[ ! -e "$T/x.slim" ] && ok || bad "a failed transfer run left an output file"

# a new 12-way head; 0 epochs: the model as training starts, 1 epoch with the backbone frozen, 2 epochs
# (the second trains everything)
expect 0 "new classifier 'fc': 12 outputs \(was 10\)" "$B" train $M $N --epochs 0 -o "$T/e0.slim"
expect 0 "saved .*e1.slim" "$B" train $M $N --freeze-backbone 1 --epochs 1 -o "$T/e1.slim"
expect 0 "saved" "$B" train $M $N --freeze-backbone 1 --epochs 2 -o "$T/e2.slim"
expect 0 "saved" "$B" train $M $N --epochs 1 -o "$T/all1.slim"
expect 0 "\"output_shape\": \[-1, 12\], \"kernel\": \"64->12\"[^{]*\}\]\}" "$B" summary "$T/e1.slim" --json
expect 0 "\"Conv2d-1\", \"output_shape\": \[-1, 8, 16, 16\]" "$B" summary "$T/e1.slim" --json   # a 32x32 input
expect 0 "^Non-trainable params: 0$" "$B" summary "$T/e1.slim"   # the freezing ends with the run
for m in orig:$M e0:$T/e0.slim e1:$T/e1.slim e2:$T/e2.slim all1:$T/all1.slim; do
	"$B" export "${m#*:}" -o "$T/${m%%:*}.onnx" >/dev/null || bad "export of ${m#*:} failed"
done
# frozen: the convs and BatchNorm parameters of the backbone are those imported, the head trained
for t in "layer1.0.conv1.weight 2304" "layer3.1.conv2.weight 36864" "layer1.0.bn1.weight 32" "layer4.0.bn2.bias 256"; do
	same "$T/orig.onnx" "$T/e1.onnx" $t && ok || bad "$t changed during the frozen epoch"
	same "$T/orig.onnx" "$T/e2.onnx" $t && bad "$t did not train in the epoch after the frozen one" || ok
	same "$T/orig.onnx" "$T/all1.onnx" $t && bad "$t did not train without --freeze-backbone" || ok
done
same "$T/e0.onnx" "$T/e1.onnx" fc.weight 3072 && bad "the new head did not train in the frozen epoch" || ok
# BatchNorm statistics still follow the data in training mode, as in PyTorch's model.train()
same "$T/orig.onnx" "$T/e1.onnx" layer1.0.bn1.running_mean 32 && bad "the running statistics did not move" || ok

# resume: the checkpoint carries the freezing; --num-classes and --input must agree with it
expect 0 "saved" "$B" train $M $N --freeze-backbone 1 --epochs 1 --checkpoint "$T/ck.slim" -o "$T/r1.slim"
expect 1 "--num-classes 7: the checkpoint's model has 12 outputs" \
	"$B" train --resume "$T/ck.slim" $R --num-classes 7 --epochs 2 -o "$T/x.slim"
expect 1 "--input 3x64x64: the checkpoint's model takes 3x32x32" \
	"$B" train --resume "$T/ck.slim" $R --input 3x64x64 --epochs 2 -o "$T/x.slim"
expect 0 "resuming at epoch 2 of 2" "$B" train --resume "$T/ck.slim" $R --num-classes 12 --epochs 2 -o "$T/r2.slim"
"$B" export "$T/r2.slim" -o "$T/r2.onnx" >/dev/null
same "$T/e2.onnx" "$T/r2.onnx" layer3.1.conv2.weight 36864 && ok || bad "the resumed run differs from the straight one"
# a checkpoint taken inside the frozen epochs stays frozen when resumed
expect 0 "saved" "$B" train $M $N --freeze-backbone 2 --epochs 1 --checkpoint "$T/ck2.slim" -o "$T/f1.slim"
expect 0 "resuming at epoch 2 of 2" "$B" train --resume "$T/ck2.slim" $R --epochs 2 -o "$T/f2.slim"
"$B" export "$T/f2.slim" -o "$T/f2.onnx" >/dev/null
same "$T/orig.onnx" "$T/f2.onnx" layer3.1.conv2.weight 36864 && ok || bad "--freeze-backbone was lost on --resume"
expect 0 "^Non-trainable params: 0$" "$B" summary "$T/ck2.slim"   # the checkpoint keeps the model's own flags
finish
