#!/usr/bin/env bash
# bench/run.sh — training throughput of slimnn against PyTorch, same machine, same run.
#
#   bash bench/run.sh            one full epoch (60,000 images) each; a few minutes
#   bash bench/run.sh --quick    the first 10,000 images each (--limit 10000), for iteration
#
# What it does, strictly one thing after another (never two measurements at once):
#   1. checks the tools, prints the machine and the load average (warns above 0.5);
#   2. builds bench/sgemm_peak.c and measures OpenBLAS's 1024^3 sgemm with 1 and 2 threads;
#   3. trains models/cnn.arch for one epoch with slimnn (its epoch line gives img/s);
#   4. trains the same network with the same recipe in PyTorch (bench/torch_train.py);
#   5. prints one table: img/s, the ratio, peak RSS (/usr/bin/time -v) and the settings.
# See bench/README.md for what exactly is timed on each side.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."   # the repository root

THREADS=2                  # the thread count for both engines (the dev machine has 2 cores)
BATCH=128                  # slimnn's default batch, passed explicitly to PyTorch
WARMUP=20                  # untimed PyTorch steps at the start of the epoch
LOAD_LIMIT=0.5             # warn if the 1-minute load average is above this before starting
SLIMNN=build/slimnn
PYTHON=/usr/bin/python3    # Debian's python3 with python3-torch and python3-numpy
TIME=/usr/bin/time         # GNU time (Debian package `time`), for peak RSS
DATA=/usr/share/datasets/fashion-mnist
LIMIT=0                    # 0: the full training split

usage() {
	sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) LIMIT=10000 ;;
	-h | --help) usage 0 ;;
	*) echo "bench/run.sh: unknown option '$1'" >&2; usage 2 >&2 ;;
	esac
	shift
done

die() { echo "bench/run.sh: $*" >&2; exit 1; }

# ------------------------------------------------------------------------- preflight
[ -x "$SLIMNN" ] || { echo "building slimnn (make)..."; make -s >/dev/null; }
[ -x "$SLIMNN" ] || die "$SLIMNN is missing; run make"
if [ ! -x "$TIME" ]; then
	# GNU time reports peak RSS; bash's `time` keyword does not.
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "installing Debian package 'time' (for /usr/bin/time)..."
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
	fi
	[ -x "$TIME" ] || die "$TIME is missing: apt-get install time"
fi
"$PYTHON" -c 'import torch, numpy' 2>/dev/null ||
	die "$PYTHON cannot import torch and numpy: apt-get install python3-torch python3-numpy"
[ -f "$DATA/train-images-idx3-ubyte.gz" ] || die "no Fashion-MNIST in $DATA: apt-get install dataset-fashion-mnist"
command -v cc >/dev/null || die "no C compiler: apt-get install build-essential"

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
busy_cores() {
	local b0 t0 b1 t1 n
	read -r b0 t0 < <(cpu_ticks)
	sleep 1
	read -r b1 t1 < <(cpu_ticks)
	n=$(awk -v b="$((b1 - b0))" -v t="$((t1 - t0))" -v c="$CPUS" 'BEGIN { printf "%.2f", t ? b / t * c : 0 }')
	if above "$n" "$LOAD_LIMIT"; then
		echo "WARNING: other processes kept $n cores busy just before the $1 run;" \
			"its $THREADS-thread timing will be low and unreliable" >&2
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

echo "== slimnn vs PyTorch: models/cnn.arch, batch $BATCH, $THREADS threads, $IMAGES_DESC"
echo "machine: $CPU_MODEL, $CORES cores / $CPUS CPUs online; load average $LOAD_START"
echo

# ------------------------------------------------------------------------- 1. sgemm peak
echo "-- sgemm peak (OpenBLAS, 1024x1024x1024, median of 9)"
run cc -O2 -std=c11 bench/sgemm_peak.c -o "$WORK/sgemm_peak" -lopenblas
run "$WORK/sgemm_peak" 1024 1 2 >"$WORK/sgemm.out" 2>/dev/null
cat "$WORK/sgemm.out"
echo

# ------------------------------------------------------------------------- 2. slimnn
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

# ------------------------------------------------------------------------- 3. PyTorch
# torch.set_num_threads($THREADS) sets its OpenMP intra-op threads (oneDNN convolutions,
# elementwise ops); its Linear layers call Debian's libblas.so.3, which is OpenBLAS (pthread
# build) and takes its thread count from OPENBLAS_NUM_THREADS.
BUSY_TORCH=$(busy_cores PyTorch)
echo "-- PyTorch (other processes busy on $BUSY_TORCH cores just before)"
torch_limit=()
[ "$LIMIT" -gt 0 ] && torch_limit=(--limit "$LIMIT")
run env OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" "$TIME" -v -o "$WORK/torch.time" \
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

# ------------------------------------------------------------------------- 4. the table
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
