#!/usr/bin/env bash
# bench/run.sh — slimnn against PyTorch, same machine, same run: kernels, models, training.
#
#   bash bench/run.sh                  everything (a few minutes on an idle machine)
#   bash bench/run.sh --quick          fewer timed runs, training on the first 10,000 images
#   bash bench/run.sh --only conv,sparse,models,onnx,data,train,q8   some sections (or BENCH_ONLY=...)
#   bash bench/run.sh --build DIR      binaries from DIR (make B=DIR), default build
#
# What it does, strictly one thing after another (never two measurements at once):
#   1. checks the tools, builds the bench programs, prints the machine and the load average;
#   2. measures OpenBLAS's 1024^3 sgemm with 1 and 2 threads (bench/sgemm_peak.c);
#   3. conv: eight single convolutions, slimnn (bench/kernels.c) then PyTorch (torch_kernels.py);
#   4. sparse: a 1x1 conv 256->256 on 56x56 at 0-95 % unstructured sparsity, both engines;
#   5. models: batch-1 latency of MobileNetV2-224 and ResNet-18-224, both engines;
#   6. onnx: torchvision models exported to ONNX by PyTorch (random weights): slimnn's import
#      time and batch-1 latency of the imported file against the torchvision model itself;
#      then prints the tables of 3-6 with their ratios (bench/tables.py);
#   7. data: JPEG decode + Resize(256) + CenterCrop(224) to CHW bytes on one core, slimnn
#      (bench/decode.c) against PIL + numpy (bench/decode_pil.py) on the same generated files,
#      with and without DCT scaling (PIL's draft()), and a table with the ratios;
#   8. train: models/cnn.arch for one epoch with slimnn, then with the same recipe in PyTorch
#      (bench/torch_train.py), and one table: img/s, ratio, peak RSS and the settings;
#   9. q8: slimnn's int8 kernels against its float ones on the conv shapes of 3 and MobileNetV2's
#      depthwise and Linear shapes, and the whole MobileNetV2-224 int8 against float at batch 1
#      and 32 (bench_kernels q8conv:, q8linear:, q8model:), and PyTorch's quantized engines
#      (onednn, qnnpack) on the same words, ABBA, a table of the ratios; pruned 1x1 conv and Linear
#      in float and int8, dense and sparse (q8sparse:, q8sparselinear:), slimnn only.
# See bench/README.md for what exactly is timed on each side.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."   # the repository root

THREADS=2                  # the thread count for both engines (the dev machine has 2 cores)
BATCH=128                  # slimnn's default batch, passed explicitly to PyTorch
WARMUP=20                  # untimed PyTorch steps at the start of the epoch
LOAD_LIMIT=0.5             # warn if the 1-minute load average is above this before starting
PYTHON=/usr/bin/python3    # Debian's python3 with python3-torch and python3-numpy
TIME=/usr/bin/time         # GNU time (Debian package `time`), for peak RSS
DATA=/usr/share/datasets/fashion-mnist
LIMIT=0                    # 0: the full training split
BUILD=build                # where make puts slimnn and the bench programs
KRUNS=21                   # timed forward passes per kernel/model case (the median is reported)
KWARMUP=3                  # untimed passes before them
DRUNS=9                    # timed passes over each JPEG set per engine and implementation (data)
ONLY=${BENCH_ONLY:-conv,sparse,models,onnx,data,train,q8}
SECTIONS=conv,sparse,models,onnx,data,train,q8

# The cases, written once and handed to both engines (bench/kernels.c documents the words).
CONV_CASES=(                                    # N,Cin,H,W,Cout,k,stride,groups; padding k/2
	conv:1,3,224,224,32,3,2,1 conv:1,32,112,112,32,3,1,32 conv:1,32,112,112,64,1,1,1
	conv:1,128,56,56,128,3,1,1 conv:1,128,56,56,128,3,1,128 conv:1,256,28,28,256,1,1,1
	conv:32,1,28,28,32,3,1,1 conv:32,32,14,14,64,3,1,1 conv:1,240,28,28,240,5,1,240)
SPARSE_CASES=(sparse:1,256,56,56,256,{0,70,80,90,95})   # N,Cin,H,W,Cout,percent zeroed
MODEL_CASES=(model:models/mobilenetv2-224.arch model:models/resnet18-224.arch)
Q8_CASES=(                                      # the conv shapes in int8, MobileNetV2's dw and head
	q8conv:1,3,224,224,32,3,2,1 q8conv:1,32,112,112,32,3,1,32 q8conv:1,32,112,112,64,1,1,1
	q8conv:1,128,56,56,128,3,1,1 q8conv:1,128,56,56,128,3,1,128 q8conv:1,256,28,28,256,1,1,1
	q8conv:1,576,14,14,576,3,1,576 q8conv:1,960,7,7,960,3,1,960 q8conv:1,144,56,56,144,3,2,144
	q8linear:1,1280,1000 q8linear:64,1280,1000
	q8model:1,models/mobilenetv2-224.arch q8model:32,models/mobilenetv2-224.arch
	q8sparse:{1,32},256,28,28,256,{70,90,96} q8sparselinear:{1,32},1280,1000,{70,90,96})   # pruned: int8 sparse
# torchvision models for the onnx section: exported by tools/check_torchvision_onnx.py
ONNX_MODELS=(resnet18 mobilenet_v2 mobilenet_v3_small squeezenet1_0 shufflenet_v2_x1_0 efficientnet_b0)

usage() {
	sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) LIMIT=10000 KRUNS=7 KWARMUP=2 DRUNS=5 ;;
	--only) [ $# -gt 1 ] || usage 2 >&2; ONLY=$2; shift ;;
	--build) [ $# -gt 1 ] || usage 2 >&2; BUILD=$2; shift ;;
	-h | --help) usage 0 ;;
	*) echo "bench/run.sh: unknown option '$1'" >&2; usage 2 >&2 ;;
	esac
	shift
done

die() { echo "bench/run.sh: $*" >&2; exit 1; }
want() { [[ ",$ONLY," == *",$1,"* ]]; }
for s in ${ONLY//,/ }; do
	[[ ",$SECTIONS," == *",$s,"* ]] || die "unknown section '$s' in --only: expected some of $SECTIONS"
done

# ------------------------------------------------------------------------- preflight
SLIMNN=$BUILD/slimnn
KERNELS=$BUILD/bench_kernels
DECODE=$BUILD/bench_decode
SGEMM=$BUILD/sgemm_peak
command -v cc >/dev/null || die "no C compiler: apt-get install build-essential"
MAKE_LOG=$(mktemp "${TMPDIR:-/tmp}/slimnn-bench-make.XXXXXX")
make -s B="$BUILD" "$SLIMNN" "$KERNELS" "$SGEMM" "$DECODE" >"$MAKE_LOG" 2>&1 ||
	{ cat "$MAKE_LOG" >&2; rm -f "$MAKE_LOG"; die "building $SLIMNN, $KERNELS, $SGEMM and $DECODE failed (make B=$BUILD)"; }
rm -f "$MAKE_LOG"
if want train && [ ! -x "$TIME" ]; then
	# GNU time reports peak RSS; bash's `time` keyword does not.
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "installing Debian package 'time' (for /usr/bin/time)..."
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
	fi
	[ -x "$TIME" ] || die "$TIME is missing: apt-get install time"
fi
if [ "$ONLY" != data ] && [ "$ONLY" != q8 ]; then   # data needs only python3 (PIL, numpy), q8 runs slimnn alone without torch
	"$PYTHON" -c 'import torch, numpy' 2>/dev/null ||
		die "$PYTHON cannot import torch and numpy: apt-get install python3-torch python3-numpy"
fi
if want models || want onnx; then
	"$PYTHON" -c 'import torchvision' 2>/dev/null || die "$PYTHON cannot import torchvision: apt-get install python3-torchvision"
fi
if want train; then
	[ -f "$DATA/train-images-idx3-ubyte.gz" ] || die "no Fashion-MNIST in $DATA: apt-get install dataset-fashion-mnist"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/slimnn-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# The 1-minute load average, and a warning when other processes are busy: with 2 cores and
# 2 threads, any other runnable process steals a core and every parallel region then waits
# for a time slice, which can make a run several times slower.
load1() { cut -d' ' -f1 /proc/loadavg; }
above() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }
check_load() {
	local l
	l=$(load1)
	if above "$l" "$LOAD_LIMIT"; then
		echo "WARNING: load average $l > $LOAD_LIMIT before starting: other processes are running;" \
			"$THREADS-thread timings will be low and unreliable (rerun on an idle machine)" >&2
	fi
	echo "$l"
}

# Between our own runs the load average is no guide (the previous run keeps it near
# $THREADS for minutes), so before each run we measure directly how many cores other
# processes kept busy over one second, from /proc/stat, and warn above LOAD_LIMIT cores.
cpu_ticks() { awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9 }' /proc/stat; }
busy_cores() {   # NAME [THREADS]: the run's name and its thread count (default $THREADS)
	local b0 t0 b1 t1 n
	read -r b0 t0 < <(cpu_ticks)
	sleep 1
	read -r b1 t1 < <(cpu_ticks)
	n=$(awk -v b="$((b1 - b0))" -v t="$((t1 - t0))" -v c="$CPUS" 'BEGIN { printf "%.2f", t ? b / t * c : 0 }')
	if above "$n" "$LOAD_LIMIT"; then
		echo "WARNING: other processes kept $n cores busy just before the $1 run;" \
			"its ${2:-$THREADS}-thread timing will be low and unreliable" >&2
	fi
	echo "$n"
}

# Prints a command exactly as it is run, then runs it.
run() {
	printf '+'; printf ' %q' "$@"; printf '\n'
	"$@"
}

# A field of /usr/bin/time -v's report, e.g. "Maximum resident set size (kbytes)".
time_field() { sed -n "s/^[[:space:]]*$2: //p" "$1"; }
# A key=value line of torch_train.py's output.
torch_field() { sed -n "s/^$1=//p" "$WORK/torch.out" | head -1; }

CPU_MODEL=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
CPUS=$(nproc)
CORES=$(lscpu -p=core 2>/dev/null | grep -v '^#' | sort -u | wc -l)
IMAGES_DESC=$([ "$LIMIT" -gt 0 ] && echo "first $LIMIT training images (--quick)" || echo "60,000 training images (one full epoch)")
LOAD_START=$(check_load)

echo "== slimnn vs PyTorch ($ONLY), $THREADS threads each"
echo "machine: $CPU_MODEL, $CORES cores / $CPUS CPUs online; load average $LOAD_START"
echo

# ------------------------------------------------------------------------- sgemm peak
echo "-- sgemm peak (OpenBLAS, 1024x1024x1024, median of 9)"
run "$SGEMM" 1024 1 2 >"$WORK/sgemm.out" 2>/dev/null
cat "$WORK/sgemm.out"
echo

# ------------------------------------------------------------------------- kernels and models
# PyTorch allocates every output afresh; glibc serves large blocks from new mmap'd pages and
# unmaps them on free, and this VM charges ~8 us for each freshly touched page. That made
# PyTorch's times swing up to 10x from run to run (a 3x3 depthwise conv on 32x112x112: 0.34 to
# 4.7 ms). These settings keep freed memory in the heap, so PyTorch is timed in its steady state,
# as slimnn is (its activations live in one arena planned once).
MALLOC_ENV=(MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967295 MALLOC_TOP_PAD_=67108864)

# One section's cases, each engine twice in the order slimnn, PyTorch, PyTorch, slimnn (each run
# after a check that nobody else is busy); tables.py takes the mean of an engine's two medians,
# so that a steady drift of the machine's speed over the minutes of a section (this VM's sgemm
# peak moved by a third between runs) weighs on both engines alike. A case that fails on one
# engine shows as "failed" in the tables (its reason is printed here).
KERNEL_FAILED=0
KERNEL_BUSY=0              # the most cores other processes kept busy before any kernel run
engine_round() {
	local name=$1 engine=$2 busy
	shift 2
	busy=$(busy_cores "$engine $name")
	KERNEL_BUSY=$(awk -v a="$busy" -v b="$KERNEL_BUSY" 'BEGIN { print (a > b ? a : b) }')
	echo "-- $name: $engine (other processes busy on $busy cores just before)"
	if [ "$engine" = slimnn ]; then
		run env "${MALLOC_ENV[@]}" OMP_NUM_THREADS="$THREADS" "$KERNELS" --threads "$THREADS" --warmup "$KWARMUP" \
			--runs "$KRUNS" "$@" | tee -a "$WORK/kernels.slimnn" || KERNEL_FAILED=1
	else
		run env "${MALLOC_ENV[@]}" OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" "$PYTHON" \
			bench/torch_kernels.py --threads "$THREADS" --warmup "$KWARMUP" --runs "$KRUNS" "$@" |
			tee -a "$WORK/kernels.torch" || KERNEL_FAILED=1
	fi
}
kernel_section() {
	local name=$1
	shift
	for engine in slimnn PyTorch PyTorch slimnn; do engine_round "$name" "$engine" "$@"; done
	echo
}
want conv && kernel_section conv "${CONV_CASES[@]}"
want sparse && kernel_section sparse "${SPARSE_CASES[@]}"
want models && kernel_section models "${MODEL_CASES[@]}"
if want onnx; then
	echo "-- onnx: exporting ${ONNX_MODELS[*]} with torch.onnx.export (opset 13, BatchNorm kept)"
	run "$PYTHON" tools/check_torchvision_onnx.py "$SLIMNN" "${ONNX_MODELS[@]}" --export-only "$WORK/onnx" 2>/dev/null ||
		die "exporting the torchvision models failed (rerun tools/check_torchvision_onnx.py to see why)"
	onnx_cases=()
	for m in "${ONNX_MODELS[@]}"; do onnx_cases+=("model:$WORK/onnx/$m.onnx"); done
	kernel_section onnx "${onnx_cases[@]}"
fi
if [ -s "$WORK/kernels.slimnn" ] || [ -s "$WORK/kernels.torch" ]; then
	touch "$WORK/kernels.slimnn" "$WORK/kernels.torch"
	"$PYTHON" bench/tables.py --sgemm "$WORK/sgemm.out" --threads "$THREADS" "$WORK/kernels.slimnn" "$WORK/kernels.torch"
	echo "- per case and engine: the median of $KRUNS timed runs after $KWARMUP warm-up runs (and 0.2 s), twice" \
		"(slimnn, PyTorch, PyTorch, slimnn), the mean of the two; $THREADS threads each;" \
		"slimnn $("$SLIMNN" --version | awk '{print $2}'), PyTorch $(grep -o 'torch=[^ ]*' "$WORK/kernels.torch" | head -1 | cut -d= -f2)"
	[ "$KERNEL_FAILED" = 0 ] || echo "- WARNING: some cases failed (see the messages above); their cells say 'failed'"
	if above "$LOAD_START" "$LOAD_LIMIT" || above "$KERNEL_BUSY" "$LOAD_LIMIT"; then
		echo "- WARNING: other processes were using the CPUs (load average $LOAD_START at the start, up to" \
			"$KERNEL_BUSY cores busy before a run): these times are unreliable; rerun on an idle machine"
	fi
	echo
fi

# ------------------------------------------------------------------------- q8
# slimnn's int8 kernels against its float ones and against PyTorch's quantized engines, in the
# order slimnn, PyTorch, PyTorch, slimnn (each run after the busy check); per case the float time
# (impl=dense, or impl=float for q8model), the fastest int8 path (impl=int8:KERNEL on each
# instruction set the CPU has; impl=int8 for q8model) and PyTorch's int8 time on each quantized
# engine it has (impl=int8:ENGINE), each the mean of its two runs' medians; float / int8, and
# PyTorch int8 / slimnn int8 per engine. PyTorch runs the q8conv, q8linear and q8model words
# (bench/torch_kernels.py); other words, and every case when PyTorch is missing, are slimnn only.
if want q8; then
	q8_torch=()
	for c in "${Q8_CASES[@]}"; do [[ $c =~ ^q8(conv|linear|model): ]] && q8_torch+=("$c"); done
	q8_engines=(slimnn PyTorch PyTorch slimnn)
	if ! "$PYTHON" -c 'import torch, torchvision' 2>/dev/null; then
		echo "($PYTHON cannot import torch and torchvision: slimnn only; apt-get install python3-torch python3-torchvision)"
		q8_engines=(slimnn slimnn)
	fi
	for engine in "${q8_engines[@]}"; do
		busy=$(busy_cores "q8 $engine")
		echo "-- q8: $engine (other processes busy on $busy cores just before)"
		if [ "$engine" = slimnn ]; then
			run env "${MALLOC_ENV[@]}" OMP_NUM_THREADS="$THREADS" "$KERNELS" --threads "$THREADS" --warmup "$KWARMUP" \
				--runs "$KRUNS" "${Q8_CASES[@]}" | tee -a "$WORK/q8.slimnn" || echo "- WARNING: some q8 cases failed"
		else
			run env "${MALLOC_ENV[@]}" OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" "$PYTHON" \
				bench/torch_kernels.py --threads "$THREADS" --warmup "$KWARMUP" --runs "$KRUNS" "${q8_torch[@]}" |
				tee -a "$WORK/q8.slimnn" || echo "- WARNING: some PyTorch q8 cases failed"
		fi
	done
	echo
	awk '{ c = ""; i = ""; m = ""; e = ""
	       for (k = 1; k <= NF; k++) { split($k, kv, "="); if (kv[1] == "case") c = kv[2]; if (kv[1] == "impl") i = kv[2]
	                                   if (kv[1] == "ms") m = kv[2]; if (kv[1] == "engine") e = kv[2] }
	       if (c == "" || m == "" || c ~ /^q8sparse/) next
	       if (!(c in seen)) { seen[c] = 1; order[++n] = c }
	       if (e == "torch") { sub(/^int8:/, "", i); if (!(i in te)) { te[i] = 1; tes[++nt] = i }; i = "torch:" i }
	       else if (e != "slimnn") next
	       if (!((c, i) in cnt)) impls[c] = impls[c] " " i
	       sum[c, i] += m; cnt[c, i]++ }
	     END { printf "| case | float ms | int8 ms | int8 kernel | float / int8 |"
	           for (t = 1; t <= nt; t++) printf " PyTorch %s int8 ms |", tes[t]
	           for (t = 1; t <= nt; t++) printf " PyTorch %s / slimnn int8 |", tes[t]
	           printf "\n|---|---:|---:|---|---:|"; for (t = 1; t <= 2 * nt; t++) printf "---:|"; printf "\n"
	           for (j = 1; j <= n; j++) { c = order[j]; split(impls[c], is, " "); f = -1; q = -1; qk = ""
	             for (t in is) { i = is[t]; v = sum[c, i] / cnt[c, i]
	               if (i == "dense" || i == "float") f = v
	               else if ((i ~ /^int8/) && (q < 0 || v < q)) { q = v; qk = i } }
	             printf "| %s | %.3f | %.3f | %s | %.2f |", c, f, q, qk, (q > 0 ? f / q : 0)
	             for (t = 1; t <= nt; t++) { k = "torch:" tes[t]; if ((c, k) in cnt) printf " %.3f |", sum[c, k] / cnt[c, k]; else printf " — |" }
	             for (t = 1; t <= nt; t++) { k = "torch:" tes[t]
	               if (((c, k) in cnt) && q > 0) printf " %.2f |", sum[c, k] / cnt[c, k] / q; else printf " — |" }
	             printf "\n" } }' "$WORK/q8.slimnn"
	echo "- each engine twice (${q8_engines[*]}), the mean of its two medians of $KRUNS timed runs after $KWARMUP" \
		"warm-up runs; $THREADS threads each; load average $(load1) now"
	echo "- PyTorch $(grep -o 'torch=[^ ]*' "$WORK/q8.slimnn" | head -1 | cut -d= -f2): layers torch.ao.nn.quantized (quint8" \
		"activations, per-channel qint8 weights), models torchvision.models.quantization (fuse_model, the engine's" \
		"default qconfig, 8 random calibration images); PyTorch / slimnn above 1 means slimnn's int8 is faster"
	echo
	echo "| pruned case | float dense ms | float sparse ms | int8 dense ms | int8 sparse ms | int8 dense / sparse |"
	echo "|---|---:|---:|---:|---:|---:|"
	awk '{ c = ""; i = ""; m = ""
	       for (k = 1; k <= NF; k++) { split($k, kv, "="); if (kv[1] == "case") c = kv[2]; if (kv[1] == "impl") i = kv[2]; if (kv[1] == "ms") m = kv[2] }
	       if (c !~ /^q8sparse/ || m == "") next
	       sub(/:.*/, "", i)
	       if (!(c in seen)) { seen[c] = 1; order[++n] = c }
	       sum[c, i] += m; cnt[c, i]++ }
	     function v(c, i) { return cnt[c, i] ? sum[c, i] / cnt[c, i] : 0 }
	     END { for (j = 1; j <= n; j++) { c = order[j]; s = v(c, "int8-sparse")
	             printf "| %s | %.3f | %.3f | %.3f | %.3f | %.2f |\n", c, v(c, "dense"), v(c, "sparse"), v(c, "int8"), s, (s > 0 ? v(c, "int8") / s : 0) } }' "$WORK/q8.slimnn"
	echo
fi

# ------------------------------------------------------------------------- data
# One core each: a 1-thread decode pipeline, as one DataLoader worker or one slimnn loader thread
# runs it. The JPEG sets are generated by bench_decode (seeded: the same bytes every run) and both
# engines time the same files from memory; bench/decode.c and bench/decode_pil.py say what a pass is.
if want data; then
	echo "== data loading: JPEG decode + Resize(256) + CenterCrop(224) to CHW uint8, one core"
	echo
	run "$DECODE" --make "$WORK/jpeg"
	SETS=("$WORK/jpeg/500x375" "$WORK/jpeg/1024x768")
	ENGINES=(slimnn)
	if "$PYTHON" -c 'import PIL, numpy' 2>/dev/null; then
		ENGINES=(slimnn PIL PIL slimnn)
	else
		echo "($PYTHON cannot import PIL and numpy: slimnn only; apt-get install python3-pil python3-numpy)"
		ENGINES=(slimnn slimnn)
	fi
	DATA_BUSY=0
	for engine in "${ENGINES[@]}"; do
		busy=$(busy_cores "$engine decode" 1)
		DATA_BUSY=$(awk -v a="$busy" -v b="$DATA_BUSY" 'BEGIN { print (a > b ? a : b) }')
		echo "-- data: $engine (other processes busy on $busy cores just before)"
		if [ "$engine" = slimnn ]; then
			run env "${MALLOC_ENV[@]}" "$DECODE" --runs "$DRUNS" "${SETS[@]}" | tee -a "$WORK/decode.out" || KERNEL_FAILED=1
		else
			run env "${MALLOC_ENV[@]}" "$PYTHON" bench/decode_pil.py --runs "$DRUNS" "${SETS[@]}" |
				tee -a "$WORK/decode.out" || KERNEL_FAILED=1
		fi
	done
	echo
	"$PYTHON" bench/decode_pil.py --table "$WORK/decode.out" || KERNEL_FAILED=1
	echo "- per set, engine and implementation: the median of $DRUNS passes over 64 files after a warm-up" \
		"pass (and 0.2 s), the mean over the runs in the order ${ENGINES[*]}; both decode with" \
		"$(grep -o 'libjpeg-turbo [0-9.]*' "$WORK/decode.out" | head -1)"
	echo "- CPU: $CPU_MODEL; $(grep -o 'avx[^ ]*' /proc/cpuinfo | sort -u | tr '\n' ' ')"
	if above "$LOAD_START" "$LOAD_LIMIT" || above "$DATA_BUSY" "$LOAD_LIMIT"; then
		echo "- WARNING: other processes were using the CPUs (load average $LOAD_START at the start, up to" \
			"$DATA_BUSY cores busy before a run): these figures are unreliable; rerun on an idle machine"
	fi
	echo
fi
want train || exit "$KERNEL_FAILED"

# ------------------------------------------------------------------------- train: slimnn
echo "== training throughput: models/cnn.arch, batch $BATCH, $THREADS threads, $IMAGES_DESC"
echo
# slimnn runs OpenBLAS single-threaded and splits its work with OpenMP (--threads sets the
# OpenMP thread count), so OMP_NUM_THREADS is set to the same value for consistency only.
limit_arg=()
[ "$LIMIT" -gt 0 ] && limit_arg=(--limit "$LIMIT")
BUSY_SLIMNN=$(busy_cores slimnn)
echo "-- slimnn (other processes busy on $BUSY_SLIMNN cores just before)"
run env OMP_NUM_THREADS="$THREADS" "$TIME" -v -o "$WORK/slimnn.time" \
	"$SLIMNN" train models/cnn.arch --epochs 1 --quiet --threads "$THREADS" "${limit_arg[@]}" \
	-o "$WORK/x.slim" >"$WORK/slimnn.out" || { cat "$WORK/slimnn.out" "$WORK/slimnn.time" >&2; die "slimnn train failed"; }
cat "$WORK/slimnn.out"
EPOCH_LINE=$(grep -E '^epoch +1/1 ' "$WORK/slimnn.out") || die "no epoch line in slimnn's output"
# "epoch  1/1  train loss 0.4567  acc  83.45%  |  test loss ...  |   12.3 s   4870 img/s"
S_IMGS=$(sed -E 's/.*[[:space:]]([0-9.]+) img\/s.*/\1/' <<<"$EPOCH_LINE")
S_SECS=$(sed -E 's/.*[[:space:]]([0-9.]+) s[[:space:]]+[0-9.]+ img\/s.*/\1/' <<<"$EPOCH_LINE")
S_ACC=$(sed -E 's/.*train loss [0-9.]+ +acc +([0-9.]+)%.*/\1/' <<<"$EPOCH_LINE")
S_RSS=$(time_field "$WORK/slimnn.time" 'Maximum resident set size (kbytes)')
S_CPU=$(time_field "$WORK/slimnn.time" 'Percent of CPU this job got')
S_INVOL=$(time_field "$WORK/slimnn.time" 'Involuntary context switches')
echo

# ------------------------------------------------------------------------- train: PyTorch
# torch.set_num_threads($THREADS) sets its OpenMP intra-op threads (oneDNN convolutions,
# elementwise ops); its Linear layers call Debian's libblas.so.3, which is OpenBLAS (pthread
# build) and takes its thread count from OPENBLAS_NUM_THREADS.
BUSY_TORCH=$(busy_cores PyTorch)
echo "-- PyTorch (other processes busy on $BUSY_TORCH cores just before)"
torch_limit=()
[ "$LIMIT" -gt 0 ] && torch_limit=(--limit "$LIMIT")
run env "${MALLOC_ENV[@]}" OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" "$TIME" -v -o "$WORK/torch.time" \
	"$PYTHON" bench/torch_train.py --threads "$THREADS" --batch "$BATCH" --warmup "$WARMUP" \
	"${torch_limit[@]}" >"$WORK/torch.out" || { cat "$WORK/torch.out" "$WORK/torch.time" >&2; die "bench/torch_train.py failed"; }
cat "$WORK/torch.out"
T_IMGS=$(torch_field img_s)
T_IMGS_ALL=$(torch_field img_s_whole_epoch)
T_SECS=$(torch_field epoch_seconds)
T_ACC=$(torch_field train_acc)
T_RSS=$(time_field "$WORK/torch.time" 'Maximum resident set size (kbytes)')
T_CPU=$(time_field "$WORK/torch.time" 'Percent of CPU this job got')
T_INVOL=$(time_field "$WORK/torch.time" 'Involuntary context switches')
LOAD_END=$(load1)
echo

# ------------------------------------------------------------------------- train: the table
fmt0() { awk -v x="$1" 'BEGIN { printf "%.0f", x }'; }
fmt1() { awk -v x="$1" 'BEGIN { printf "%.1f", x }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f MiB", k / 1024 }'; }
RATIO=$(awk -v a="$S_IMGS" -v b="$T_IMGS" 'BEGIN { printf "%.2f", a / b }')
RATIO_ALL=$(awk -v a="$S_IMGS" -v b="$T_IMGS_ALL" 'BEGIN { printf "%.2f", a / b }')
SG1=$(grep '^threads=1 ' "$WORK/sgemm.out" | grep -o 'gflops=[0-9.]*' | cut -d= -f2)
SG2=$(grep '^threads=2 ' "$WORK/sgemm.out" | grep -o 'gflops=[0-9.]*' | cut -d= -f2)
# Arithmetic rate: a training step costs about 3 forward passes of GEMM work (forward,
# input gradient, weight gradient), 2 flops per mult-add; slimnn's summary counts the
# mult-adds of one forward pass (torchinfo's convention). An approximation, for scale only.
MACS=$("$SLIMNN" summary models/cnn.arch --macs --json | grep -o '"mult_adds": [0-9]*' | head -1 | grep -o '[0-9]*$')
gflops() { awk -v i="$1" -v m="$MACS" 'BEGIN { printf "%.1f", i * 6 * m / 1e9 }'; }
peak_pct() { awk -v g="$(gflops "$1")" -v p="$SG2" 'BEGIN { printf "%.0f %%", 100 * g / p }'; }
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || REV="$REV+changes"

cat <<EOF
== Results: models/cnn.arch, batch $BATCH, $THREADS threads, $IMAGES_DESC

| | slimnn | PyTorch | slimnn / PyTorch |
|---|---:|---:|---:|
| training img/s | $(fmt0 "$S_IMGS") | $(fmt0 "$T_IMGS") | ${RATIO}x |
| epoch seconds (whole loop) | $(fmt1 "$S_SECS") | $(fmt1 "$T_SECS") | |
| train accuracy (sanity) | $S_ACC % | $T_ACC % | |
| ≈ GFLOP/s (6 x $(awk -v m="$MACS" 'BEGIN { printf "%.2f", m / 1e6 }') M mult-adds/image) | $(gflops "$S_IMGS") | $(gflops "$T_IMGS") | |
| ≈ share of the 2-thread sgemm peak | $(peak_pct "$S_IMGS") | $(peak_pct "$T_IMGS") | |
| peak RSS | $(mib "$S_RSS") | $(mib "$T_RSS") | |
| CPU use (200 % = both cores) / involuntary ctx switches | $S_CPU / $S_INVOL | $T_CPU / $T_INVOL | |
| cores busy with other work just before | $BUSY_SLIMNN | $BUSY_TORCH | |

- slimnn img/s: its own epoch line (all steps, first included). PyTorch img/s: steps after
  $WARMUP untimed warm-up steps; over the whole loop PyTorch ran $(fmt0 "$T_IMGS_ALL") img/s (ratio ${RATIO_ALL}x).
- machine: $CPU_MODEL, $CORES cores / $CPUS CPUs, $(uname -sr); load average $LOAD_START at the start, $LOAD_END at the end
- sgemm 1024^3 (OpenBLAS $(sed -n 's/^openblas_core=//p' "$WORK/sgemm.out") kernels): $SG1 GFLOP/s with 1 thread, $SG2 GFLOP/s with 2 threads
- slimnn $("$SLIMNN" --version | awk '{print $2}') (git $REV), $(cc --version | head -1); OpenBLAS single-threaded inside OpenMP, --threads $THREADS
- PyTorch $(torch_field torch_version), numpy $(torch_field numpy_version); torch.set_num_threads($(torch_field torch_threads)), interop threads $(torch_field torch_interop_threads), OPENBLAS_NUM_THREADS=$THREADS
- torch BLAS_INFO=$(torch_field torch_blas_info), LAPACK_INFO=$(torch_field torch_lapack_info), oneDNN (mkldnn) $(torch_field torch_mkldnn), CPU capability $(torch_field torch_cpu_capability)
- torch's BLAS as loaded: $(torch_field blas_libraries | tr ',' ' ')
EOF
if above "$LOAD_START" "$LOAD_LIMIT" || above "$BUSY_SLIMNN" "$LOAD_LIMIT" || above "$BUSY_TORCH" "$LOAD_LIMIT"; then
	echo
	echo "WARNING: other processes were using the CPUs (load average $LOAD_START at the start; $BUSY_SLIMNN and"
	echo "         $BUSY_TORCH cores busy just before the slimnn and PyTorch runs): these numbers are lower"
	echo "         bounds with an unknown bias between the two; rerun on an idle machine."
fi
exit "$KERNEL_FAILED"
