#!/bin/bash
# Command-line tests of `slimnn export --format c`: every operator on seeded random shapes, each
# weight form forced on pruned layers, the zoo models and the ONNX fixtures are exported,
# compiled on the host (gcc, and clang where installed) with -std=c99 -Wall -Wextra -pedantic
# -Werror, run on random inputs with a poisoned arena (NaN before the run and in every buffer
# once dead) and compared with `slimnn infer` (1e-5 of the largest output); then --prefix (two
# models in one program), the report, budgets and refusals.
# Usage: tests/cli_export_c.sh path/to/slimnn
B=${1:-./build/slimnn}
. "$(dirname "$0")/cli-lib.sh"
HOST=tests/mcu/host_run.c
C99="-std=c99 -Wall -Wextra -pedantic -Werror -O1"
CCS=gcc
command -v clang >/dev/null && CCS="gcc clang"
RANDOM=17   # the shapes below are drawn from a fixed stream

# build DIR CC [EXTRA...]: DIR/m.c with the host runner into DIR/run-CC
build() {
	local d=$1 cc=$2; shift 2
	$cc $C99 -DHDR='"m.h"' -DRUN=m_run '-DP(x)=M_##x' -I"$d" "$d/m.c" "$HOST" -lm -o "$d/run-$cc" "$@" 2>"$d/cc.log"
}

# check NAME MODEL [FORM] [CCS]: export (FORM forces dense, csr or bitmap), compile with each
# compiler and a poisoned arena, run 3 random inputs (or X.npy beside an ONNX fixture), compare
check() {
	local name=$1 model=$2 form=${3:-} ccs=${4:-$CCS} d=$T/$1 cc x
	if ! SLIMNN_EXPORT_FORM=$form "$B" export "$model" --format c --prefix m -o "$d" >"$T/$name.log" 2>&1; then
		bad "$name: export failed: $(tail -n 2 "$T/$name.log")"
		return
	fi
	x=$(dirname "$model")/x.npy
	[ "${model##*.}" = onnx ] && [ -e "$x" ] || x=$d/x.npy
	for cc in $ccs; do
		build "$d" "$cc" -DM_POISON_ARENA || { bad "$name: $cc does not compile it: $(head -n 3 "$d/cc.log")"; continue; }
		[ "$x" = "$d/x.npy" ] && [ ! -e "$x" ] && "$d/run-$cc" gen "$x" 3 "$RANDOM"
		"$B" infer "$model" --input "$x" --output "$d/ref.npy" >/dev/null 2>&1 || { bad "$name: slimnn infer failed"; return; }
		"$d/run-$cc" run "$x" "$d/y.npy" && out=$("$d/run-$cc" cmp "$d/y.npy" "$d/ref.npy" 1e-5) && ok ||
			bad "$name ($cc${form:+, $form}): the C code's outputs differ from slimnn infer: $out"
	done
}

# an architecture file in $T from its lines
arch() { local f=$T/$1.arch; shift; printf '%s\n' "$@" >"$f"; echo "$f"; }

# ---------------------------------------------------------------- every operator
# the sizes, drawn here in the script's own shell ($RANDOM in a $(...) subshell is reseeded)
C=$((1 + RANDOM % 4)); H=$((5 + RANDOM % 8)); W=$((5 + RANDOM % 8)); O=$((2 + RANDOM % 5))
H2=$((7 + RANDOM % 6)); W2=$((7 + RANDOM % 6)); H3=$((9 + RANDOM % 6)); W3=$((9 + RANDOM % 6)); L=$((3 + RANDOM % 7))
check conv "$(arch conv "input x shape=${C}x${H}x${W}" "conv c out=$O k=3 pad=1")"
check conv_s2_asym "$(arch conv_s2_asym "input x shape=${C}x${H2}x${W2}" "conv c out=$O k=3x2 stride=2 pad=1,0,2,1")"
check conv_groups_dil "$(arch conv_groups_dil "input x shape=4x${H}x${W}" "conv c out=6 k=3 groups=2 pad=2 dilation=2 bias=0")"
check conv_depthwise "$(arch conv_depthwise "input x shape=3x${H}x${W}" "conv c out=3 k=5 groups=3 pad=2")"
check conv_dw_mult_s2 "$(arch conv_dw_mult_s2 "input x shape=3x${H}x${W}" "conv c out=6 k=3 groups=3 pad=1 stride=2")"
check conv_reflect "$(arch conv_reflect "input x shape=${C}x${H}x${W}" "conv c out=$O k=3x5 pad=1,2,2,0 mode=reflect")"
check conv_replicate "$(arch conv_replicate "input x shape=${C}x${H}x${W}" "conv c out=$O k=3 stride=2 pad=2 mode=replicate")"
check conv_circular "$(arch conv_circular "input x shape=${C}x${H}x${W}" "conv c out=$O k=3 pad=1 mode=circular dilation=2x1")"
check conv_same_1x1 "$(arch conv_same_1x1 "input x shape=${C}x${H}x${W}" "conv a out=$O k=5 pad=same" "conv b out=3 k=1")"
check conv_bn_relu "$(arch conv_bn_relu "input x shape=${C}x${H}x${W}" "conv c out=$O k=3 pad=1 bias=0" "bn b" "relu r" \
	"conv d out=4 k=3" "relu6 r6")"
check linear "$(arch linear "input x shape=${C}x${H}x${W}" "flatten f" "linear a out=$L" "linear b out=3 bias=0")"
check bn_alone "$(arch bn_alone "input x shape=${C}x${H}x${W}" "bn b eps=0.001" "conv c out=2 k=1" "add s in=c,c")"
check activations_in_place "$(arch activations_in_place "input x shape=${C}x${H}x${W}" "conv c out=$O k=3 pad=1" \
	"sigmoid a1" "hardswish a2" "hardsigmoid a3 alpha=0.2 beta=0.4" "silu a4" "gelu a5" "gelu a6 approximate=tanh" "relu6 a7" "relu a8")"
check activations_apart "$(arch activations_apart "input x shape=${C}x${H}x${W}" "conv c out=$O k=3 pad=1" \
	"relu a1 in=c" "relu6 a2 in=c" "sigmoid a3 in=c" "hardswish a4 in=c" "hardsigmoid a5 in=c" "silu a6 in=c" "gelu a7 in=c" \
	"gelu a8 in=c approximate=tanh" "concat k in=a1,a2,a3,a4,a5,a6,a7,a8")"
check pools "$(arch pools "input x shape=${C}x${H3}x${W3}" "maxpool m k=3 stride=2 pad=1 ceil=1" \
	"avgpool a k=3 stride=2 pad=1 ceil=1 count_include_pad=0" "avgpool b k=2 stride=1 pad=1" "maxpool m2 k=2")"
check conv_pool "$(arch conv_pool "input x shape=${C}x${W3}x${H3}" "conv a out=$O k=3 pad=1" "maxpool m k=3 stride=2 pad=1 ceil=1" \
	"conv b out=4 k=3 stride=2 mode=reflect pad=1" "avgpool p k=2 pad=1 count_include_pad=0" "conv c out=3 k=1" "maxpool q k=2" \
	"relu r in=c" "conv d out=2 k=1" "avgpool m2 k=2" "concat k in=q,m2")"
check gap_head "$(arch gap_head "input x shape=${C}x${H}x${W}" "conv c out=$O k=3" "gap g" "flatten f" "linear l out=5" \
	"softmax s" "dropout d p=0.2")"
check add_three "$(arch add_three "input x shape=${C}x${H}x${W}" "conv a out=$O k=3 pad=1" "conv b in=x out=$O k=1" \
	"conv c in=x out=$O k=3 pad=1 bias=0" "add s in=a,b,c" "relu r")"
check mul_broadcast "$(arch mul_broadcast "input x shape=${C}x${H}x${W}" "conv a out=$O k=3 pad=1" "gap g" "conv s out=$O k=1" \
	"hardsigmoid h" "mul m in=a,h" "conv t in=a out=1 k=1" "sigmoid u" "mul n in=u,m")"
check channels "$(arch channels "input x shape=${C}x${H}x${W}" "conv a out=6 k=3 pad=1" "slice s start=2 end=5" \
	"conv b in=a out=3 k=1" "concat k in=s,b,s" "shuffle sh groups=3" "slice t end=4")"
check pads "$(arch pads "input x shape=${C}x${H}x${W}" "pad p pad=1,2,0,1 value=0.5" "pad q pad=1 mode=reflect" \
	"pad r pad=2,0,1,1 mode=replicate" "pad s pad=1 mode=circular" "conv c out=2 k=3")"
check softmax_pixels "$(arch softmax_pixels "input x shape=${C}x${H}x${W}" "conv c out=$O k=3 pad=1" "softmax s")"

# ---------------------------------------------------------------- each weight form, on pruned layers
for m in conv_groups_dil conv_dw_mult_s2 conv_reflect linear conv_bn_relu conv_pool; do
	awk '$1 == "conv" || $1 == "linear" {print $2, 0.7}' "$T/$m.arch" >"$T/$m.targets"   # first and last layers too
	"$B" prune "$T/$m.arch" --layer-targets "$T/$m.targets" --steps 1 --data none -o "$T/$m-p.slim" >"$T/$m-p.log" 2>&1 ||
		{ bad "pruning $m failed: $(tail -n 1 "$T/$m-p.log")"; continue; }
	for form in dense csr bitmap ""; do check "$m-p-${form:-auto}" "$T/$m-p.slim" "$form" gcc; done
done
# long sparse rows: gaps past 255 (8-bit escape codes), and rows where 16-bit gaps are smaller
check linear_wide "$(arch linear_wide "input x shape=1x40x40" "flatten f" "linear a out=6" "linear b out=3")"
check linear_wider "$(arch linear_wider "input x shape=1x100x100" "flatten f" "linear a out=3" "linear b out=2")"
echo "a 0.995" >"$T/linear_wide.targets"
echo "a 0.999" >"$T/linear_wider.targets"
for m in linear_wide linear_wider; do
	"$B" prune "$T/$m.arch" --layer-targets "$T/$m.targets" --steps 1 --data none -o "$T/$m-p.slim" >/dev/null 2>&1 || bad "pruning $m failed"
	for form in csr bitmap ""; do check "$m-p-${form:-auto}" "$T/$m-p.slim" "$form" gcc; done
done
expect 0 "a.weight +csr8 " "$B" export "$T/linear_wide-p.slim" --format c -o "$T/lw"
expect 0 "a.weight +csr16 " "$B" export "$T/linear_wider-p.slim" --format c -o "$T/lw2"
# the forms really change: a 95 % pruned Linear 256 -> 6 goes CSR by itself (397 bytes against
# the bitmap's 500), bitmap and dense when forced
echo "a 0.95" >"$T/l90.targets"
"$B" prune "$(arch l90 "input x shape=4x8x8" "flatten f" "linear a out=6" "linear b out=3")" --layer-targets "$T/l90.targets" \
	--steps 1 --data none -o "$T/l90.slim" >/dev/null 2>&1
expect 0 "a.weight +csr8 " "$B" export "$T/l90.slim" --format c -o "$T/l90"
SLIMNN_EXPORT_FORM=bitmap expect 0 "a.weight +bitmap " "$B" export "$T/l90.slim" --format c -o "$T/l90b"
SLIMNN_EXPORT_FORM=dense expect 0 "a.weight +dense " "$B" export "$T/l90.slim" --format c -o "$T/l90d"
SLIMNN_EXPORT_FORM=blocks expect 2 "SLIMNN_EXPORT_FORM must be dense, csr or bitmap" "$B" export "$T/l90.slim" --format c -o "$T/l90x"

# ---------------------------------------------------------------- the zoo and imported ONNX models
for m in cnn cnn-k5 cnn-dsc cnn-dsc-gap resnet mobilenetv2 mobilenetv3 shufflenetv2 inception; do
	check "zoo-$m" "models/$m.arch"
done
for f in activations_bn circular_conv concat conv_auto_pad_same conv_depthwise conv_grouped_dilated gap_flatten_linear \
	hardswish_opset14 mean_head pads pools reflect_replicate_convs residual_add se_block se_linear shufflenet_units \
	silu_gelu softmax_channels softmax_head view_head_opset17; do
	check "onnx-$f" "tests/fixtures/onnx/$f/model.onnx" "" gcc
done

# ---------------------------------------------------------------- two models in one program
"$B" export models/cnn-dsc-gap.arch --format c --prefix net_a -o "$T/two" >/dev/null &&
	"$B" export models/shufflenetv2.arch --format c --prefix net_b -o "$T/two" >/dev/null &&
	printf '%s\n' '#include "net_a.h"' '#include "net_b.h"' 'static float x[NET_A_INPUT_SIZE], ya[NET_A_OUTPUT_SIZE], yb[NET_B_OUTPUT_SIZE];' \
		'int main(void) { return net_a_run(x, ya) + net_b_run(x, yb); }' >"$T/two/main.c" &&
	gcc $C99 -I"$T/two" "$T/two/main.c" "$T/two/net_a.c" "$T/two/net_b.c" -lm -o "$T/two/run" 2>"$T/two.log" && "$T/two/run" && ok ||
	bad "two prefixed models do not link into one program: $(head -n 3 "$T/two.log")"
# without the poisoning the code is the same, and the arena the header names is what the object holds
build "$T/zoo-resnet" gcc && "$T/zoo-resnet/run-gcc" run "$T/zoo-resnet/x.npy" "$T/y-plain.npy" &&
	"$T/zoo-resnet/run-gcc" cmp "$T/y-plain.npy" "$T/zoo-resnet/ref.npy" 1e-5 >/dev/null && ok || bad "resnet without a poisoned arena differs"
arena=$(sed -n 's/^#define M_ARENA_BYTES \([0-9]*\).*/\1/p' "$T/zoo-resnet/m.h")
gcc $C99 -c "$T/zoo-resnet/m.c" -o "$T/r.o" && bss=$(size -A "$T/r.o" | awk '$1 == ".bss" {print $2}') &&
	[ "$bss" = "$arena" ] && ok || bad "M_ARENA_BYTES $arena but the object's .bss is $bss"

# ---------------------------------------------------------------- the report, budgets, refusals
expect 0 "slimnn export MODEL --format c -o DIR" "$B" export --help
expect 0 "RAM \(arena\) +[0-9,]+ bytes; lower bound [0-9,]+ \(1\.00x\)" "$B" export models/cnn.arch --format c -o "$T/rep"
expect 0 "conv1.weight +dense +288 +288 +1,152" "$B" export models/cnn.arch --format c -o "$T/rep"
expect 1 "budget +flash 262,144: OVER" "$B" export models/cnn.arch --format c --flash 256K -o "$T/over"
"$B" export models/cnn.arch --format c -o "$T/json" --json >"$T/r.json" 2>"$T/r.err" &&
	grep -q '"tensors": \[{"name": "conv1.weight", "form": "dense", "values": 288, "stored": 288, "bytes": 1152}' "$T/r.json" &&
	grep -q '"budget": {"flash": null, "ram": null, "fits": true}' "$T/r.json" && ok || bad "--json: $(head -c 300 "$T/r.json")"
if command -v python3 >/dev/null; then python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$T/r.json" && ok || bad "--json is not valid JSON"; fi
expect 1 "needs 3,297,832 bytes of flash for its constants, over the --flash budget of 262,144" \
	"$B" export models/cnn.arch --format c --flash 256K --ram 1M -o "$T/over"
[ ! -e "$T/over" ] && ok || bad "an export over budget left $T/over"
expect 1 "needs 38,416 bytes of RAM for its activations, over the --ram budget of 32,768" \
	"$B" export models/cnn.arch --format c --ram 32K -o "$T/over"
expect 1 '"fits": false' "$B" export models/cnn.arch --format c --ram 32K --json -o "$T/over"
[ ! -e "$T/over" ] && ok || bad "an export over budget left $T/over"
expect 0 "flash 4,194,304: fits, RAM 131,072: fits" "$B" export models/cnn.arch --format c --flash 4M --ram 128K -o "$T/fits"
expect 2 "--flash expects a size in bytes" "$B" export models/cnn.arch --format c --flash 12Q -o "$T/x"
expect 2 "--prefix must be a C identifier" "$B" export models/cnn.arch --format c --prefix 9lives -o "$T/x"
expect 2 "--format: unknown value 'tflite'" "$B" export models/cnn.arch --format tflite -o "$T/x"
expect 2 "--prefix, --flash, --ram and --json go with --format c" "$B" export models/cnn.arch --prefix a -o "$T/x.onnx"
expect 2 "no output folder: give -o DIR" "$B" export models/cnn.arch --format c
expect 1 "missing.slim" "$B" export "$T/missing.slim" --format c -o "$T/x"
[ ! -e "$T/x" ] && ok || bad "a refused export left $T/x"
# ---------------------------------------------------------------- int8 models (slimnn quantize)
# a small CNN trained and quantized on the suite's Fashion-MNIST images, and the same 90 % pruned
# then quantized (each weight form forced): exported, compiled by each compiler with a poisoned
# arena, run on the first test images through the generated input_from_bytes (an int8 table):
# the same int8 logits as slimnn infer (dequantized, the same floats to the bit), the same top-1,
# and as many right as slimnn eval counts
N8=24
idx() { if [ -e "$DATA/$1" ]; then cat "$DATA/$1"; else zcat "$DATA/$1.gz"; fi; }
# check8 NAME MODEL FORM CCS
check8() {
	local name=$1 model=$2 form=$3 ccs=$4 d=$T/$1 cc right acc want
	SLIMNN_EXPORT_FORM=$form expect 0 "wrote " "$B" export "$model" --format c --prefix m -o "$d" || return
	grep -q 'int m_run(const int8_t \*input, int8_t \*output);' "$d/m.h" && grep -q '#define M_OUTPUT_ZERO_POINT' "$d/m.h" && ok ||
		bad "$name: m.h has no int8 signature or output parameters"
	for cc in $ccs; do
		build "$d" "$cc" -DM_POISON_ARENA -DP_INPUT_FROM_BYTES=m_input_from_bytes ||
			{ bad "$name: $cc does not compile it: $(head -n 3 "$d/cc.log")"; continue; }
		"$d/run-$cc" bytes "$T/test8.u8" "$N8" "$d/x.npy" && "$d/run-$cc" run "$d/x.npy" "$d/y.npy" &&
			"$B" infer "$model" --input "$d/x.npy" --output "$d/ref.npy" >/dev/null 2>&1 || { bad "$name ($cc): a run failed"; continue; }
		out=$("$d/run-$cc" cmp "$d/y.npy" "$d/ref.npy" 0) && ok || bad "$name ($cc${form:+, $form}): int8 logits differ from slimnn infer: $out"
		"$d/run-$cc" top1 "$d/y.npy" >"$d/top1" && "$d/run-$cc" top1 "$d/ref.npy" | diff -q - "$d/top1" >/dev/null && ok ||
			bad "$name ($cc): top-1 differs from slimnn infer"
	done
	right=$(paste -d' ' <(cut -d' ' -f3 "$d/top1") "$T/test8.labels" | awk '$1 == $2' | wc -l)
	acc=$("$B" eval "$model" --limit "$N8" --json 2>/dev/null | grep -o '"accuracy": [0-9.]*' | head -n 1 | sed 's/.*: //')
	want=$(awk -v a="$acc" -v n="$N8" 'BEGIN { printf "%d", a * n + 0.5 }')
	[ "$right" = "$want" ] && ok || bad "$name: $right of $N8 right, slimnn eval says $acc ($want)"
}
idx t10k-images-idx3-ubyte | tail -c +17 | head -c $((784 * N8)) >"$T/test8.u8"
idx t10k-labels-idx1-ubyte | tail -c +9 | head -c "$N8" | od -An -v -tu1 -w1 | tr -d ' ' >"$T/test8.labels"
if "$B" train models/cnn-dsc-gap.arch --data "$DATA" --epochs 1 --limit 300 --quiet -o "$T/small.slim" >/dev/null 2>&1 &&
	"$B" quantize "$T/small.slim" --data "$DATA" --calib 64 --limit 300 -o "$T/q8.slim" >/dev/null 2>&1 &&
	"$B" prune "$T/small.slim" --target 0.9 --steps 1 --data none -o "$T/small-p.slim" >/dev/null 2>&1 &&
	"$B" quantize "$T/small-p.slim" --data "$DATA" --calib 64 --limit 300 -o "$T/q8p.slim" >/dev/null 2>&1; then
	ok
	check8 q8 "$T/q8.slim" "" "$CCS"
	for form in dense csr bitmap ""; do check8 "q8p-${form:-auto}" "$T/q8p.slim" "$form" gcc; done
	expect 0 "pw.weight +(csr8|csr16|bitmap) " "$B" export "$T/q8p.slim" --format c -o "$T/q8r"
	expect 0 "requant +dense" "$B" export "$T/q8p.slim" --format c -o "$T/q8r"
else
	bad "making the int8 models failed"
fi
printf 'x' >"$T/afile"
expect 1 "cannot write C code into '.*afile': it is not a folder" "$B" export models/cnn.arch --format c -o "$T/afile"
expect 0 "wrote .*x.onnx" "$B" export models/cnn.arch -o "$T/x.onnx"
finish
