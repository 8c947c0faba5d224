#!/bin/bash
# The microcontroller proof of `slimnn export --format c`: a small CNN trained here on
# Fashion-MNIST, the same model 96 % pruned, and that one quantized to int8 (slimnn quantize),
# exported, built for a Cortex-M4
# (arm-none-eabi-gcc, newlib) and run in QEMU's mps2-an386 with semihosting on the first N test
# images. Each image's top-1 must be the one `slimnn infer` gives on the same input, and the
# number right the count `slimnn eval --limit N` gives (the int8 model: the same int8 logits as
# slimnn infer, byte for byte, on the host). Prints flash and RAM (arm-none-eabi-size) and
# instructions per image (qemu -icount shift=0: SysTick at 25 MHz, 40 instructions a tick).
# Usage: tests/mcu/run.sh path/to/slimnn   (SLIMNN_MCU_IMAGES: N, 20; SLIMNN_MCU_KEEP=DIR keeps
# the builds there; SLIMNN_MCU_DENSE, SLIMNN_MCU_PRUNED and SLIMNN_MCU_INT8: models to run
# instead of making them, as docs/deploy.md's numbers do)
B=${1:-./build/slimnn}
cd "$(dirname "$0")/../.." || exit 2
. tests/cli-lib.sh
M=tests/mcu
N=${SLIMNN_MCU_IMAGES:-20}
ARM="arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -O2 -Wall -Wextra -Werror"
STRICT="-std=c99 -pedantic"   # the generated code; the harness (a vector table, asm) is GNU C
HOSTCC="gcc -std=c99 -Wall -Wextra -pedantic -Werror -O2"
if [ -n "${SLIMNN_MCU_KEEP:-}" ]; then rm -rf "$T"; trap - EXIT; T=$SLIMNN_MCU_KEEP; mkdir -p "$T" || exit 2; fi

# the first N test images (bytes) and labels, as a C header and a raw file
idx() { if [ -e "$DATA/$1" ]; then cat "$DATA/$1"; else zcat "$DATA/$1.gz"; fi; }
idx t10k-images-idx3-ubyte | tail -c +17 | head -c $((784 * N)) >"$T/images.u8"
{
	echo "#define N_IMAGES $N"
	echo "static const unsigned char images[N_IMAGES][784] = {"
	od -An -v -tu1 -w784 "$T/images.u8" | sed 's/^ *//; s/  */, /g; s/^/\t{/; s/$/},/'
	echo "};"
	echo "static const unsigned char labels[N_IMAGES] = {"
	idx t10k-labels-idx1-ubyte | tail -c +9 | head -c "$N" | od -An -v -tu1 | sed 's/^ *//; s/  */, /g; s/$/,/'
	echo "};"
} >"$T/images.h"

# a small trained CNN (the baseline architecture, one epoch on a few thousand images) and the
# same model 96 % pruned and fine-tuned
if [ -n "${SLIMNN_MCU_DENSE:-}" ]; then
	cp "$SLIMNN_MCU_DENSE" "$T/dense.slim" || bad "no model $SLIMNN_MCU_DENSE"
else
	"$B" train models/cnn.arch --epochs 1 --limit 4000 --quiet -o "$T/dense.slim" >"$T/train.log" 2>&1 || bad "training failed: $(tail -n 2 "$T/train.log")"
fi
if [ -n "${SLIMNN_MCU_PRUNED:-}" ]; then
	cp "$SLIMNN_MCU_PRUNED" "$T/pruned.slim" || bad "no model $SLIMNN_MCU_PRUNED"
else
	"$B" prune "$T/dense.slim" --target 0.96 --steps 2 --finetune-epochs 1 --limit 4000 --quiet -o "$T/pruned.slim" >"$T/prune.log" 2>&1 ||
		bad "pruning failed: $(tail -n 2 "$T/prune.log")"
fi

if [ -n "${SLIMNN_MCU_INT8:-}" ]; then
	cp "$SLIMNN_MCU_INT8" "$T/int8.slim" || bad "no model $SLIMNN_MCU_INT8"
else
	"$B" quantize "$T/pruned.slim" --calib 256 --limit 2000 -o "$T/int8.slim" >"$T/quantize.log" 2>&1 ||
		bad "quantizing failed: $(tail -n 2 "$T/quantize.log")"
fi

for kind in dense pruned int8; do
	d=$T/$kind
	"$B" export "$T/$kind.slim" --format c --prefix m -o "$d" >"$T/$kind.report" 2>&1 || { bad "$kind: export failed: $(tail -n 2 "$T/$kind.report")"; continue; }
	{ $ARM $STRICT -c "$d/m.c" -o "$d/m.o" && $ARM -I"$d" -I"$T" $M/startup.c $M/mcu_main.c "$d/m.o" -T $M/link.ld \
		-nostartfiles --specs=nano.specs -lm -o "$d/app.elf"; } 2>"$d/cc.log" || { bad "$kind: arm-none-eabi-gcc: $(head -n 3 "$d/cc.log")"; continue; }
	ok
	read -r text data bss _ < <(arm-none-eabi-size "$d/app.elf" | tail -n 1)
	timeout 600 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none -icount shift=0 \
		-semihosting-config enable=on,target=native -kernel "$d/app.elf" >"$d/qemu.out" 2>&1 ||
		{ bad "$kind: the Cortex-M4 run failed: $(tail -n 2 "$d/qemu.out")"; continue; }
	# the reference: the same inputs (the generated normalisation, which is the library's) through slimnn infer
	$HOSTCC -DHDR='"m.h"' -DRUN=m_run '-DP(x)=M_##x' -DP_INPUT_FROM_BYTES=m_input_from_bytes -I"$d" "$d/m.c" \
		$M/host_run.c -lm -o "$d/host" 2>"$d/host.log" || { bad "$kind: host build: $(head -n 3 "$d/host.log")"; continue; }
	"$d/host" bytes "$T/images.u8" "$N" "$d/x.npy" && "$B" infer "$T/$kind.slim" --input "$d/x.npy" --output "$d/ref.npy" >/dev/null 2>&1 &&
		"$d/host" top1 "$d/ref.npy" >"$d/ref.top1" || { bad "$kind: the host reference failed"; continue; }
	grep '^top1 ' "$d/qemu.out" | diff - "$d/ref.top1" >"$d/top1.diff" && [ "$(grep -c '^top1 ' "$d/qemu.out")" -eq "$N" ] && ok ||
		bad "$kind: the Cortex-M4's top-1s differ from slimnn infer's: $(head -n 4 "$d/top1.diff")"
	# int8: the host build's int8 logits, dequantized, are infer's to the bit (the same bytes)
	if [ "$kind" = int8 ]; then
		"$d/host" run "$d/x.npy" "$d/y.npy" && "$d/host" cmp "$d/y.npy" "$d/ref.npy" 0 >/dev/null && ok ||
			bad "int8: the exported code's int8 logits differ from slimnn infer's"
	fi
	right=$(sed -n 's/^correct \([0-9]*\) of .*/\1/p' "$d/qemu.out")
	acc=$("$B" eval "$T/$kind.slim" --limit "$N" --json 2>/dev/null | grep -o '"accuracy": [0-9.]*' | head -n 1 | sed 's/.*: //')
	want=$(awk -v a="$acc" -v n="$N" 'BEGIN { printf "%d", a * n + 0.5 }')
	[ -n "$right" ] && [ "$right" = "$want" ] && ok || bad "$kind: $right of $N right on the Cortex-M4, slimnn eval says $acc ($want)"
	ticks=$(sed -n 's/^ticks \([0-9]*\)/\1/p' "$d/qemu.out")
	weights=$(sed -n 's/^  flash (constants) *\([0-9,]*\) bytes.*/\1/p' "$T/$kind.report")
	arena=$(sed -n 's/^  RAM (arena) *\([0-9,]*\) bytes.*/\1/p' "$T/$kind.report")
	echo "$kind: $right of $N right (slimnn eval: $want); Cortex-M4 flash $((text + data)) B (weights $weights), RAM $((data + bss)) B" \
		"(arena $arena), $((ticks * 40 / N)) instructions an image"
done
finish
