#!/usr/bin/env bash
# bench/train_data.sh — what the data loader costs the trainer, measured from the training side.
#
#   bash bench/train_data.sh                      all three parts (~10 minutes on an idle machine)
#   bash bench/train_data.sh --only fmnist,jpeg,rss   some parts
#   bash bench/train_data.sh --dir DIR --build DIR    where the data sets go (kept between runs), which build
#
#   fmnist  models/cnn.arch, one epoch on Fashion-MNIST (60,000 + 10,000) read from the IDX files (the
#           default --data) against the same images as a PNG folder (train/<label>/, test/<label>/,
#           written once with PIL) with --cache on and --cache off; runs in the order IDX, on, off, off,
#           on, IDX. The loader is hidden when PNG reaches ~100 % of IDX's img/s.
#   jpeg    models/mobilenetv2-224.arch (3x224x224) on a folder of 2,000 + 200 generated 500x375 JPEGs in
#           10 classes (bench_decode --make: photo-like entropy), --cache off --epochs 1 --batch 32
#           --limit 512, with the default loader threads (every core) and with 1: is the trainer starved?
#   rss     peak RSS (/usr/bin/time -v) of the jpeg run with --cache off and --cache on at --limit 128,
#           and --cache off at --limit 512 (4x the images): bounded by the ring, not by the data set?
#           Training's peak is its activation arena (~3.6 GiB at batch 32), which hides the data, so the
#           same is also shown with `slimnn eval --batch 32` (inference arena only) on a folder whose
#           test split is the 2,000 training images: --cache off on 512 and on 2,000, --cache on on 2,000.
#
# Each run's epoch line gives img/s (the epoch's images over the training loop's wall time), the
# loader's busy share (seconds its threads spent making batches, summed over threads, over the
# loop's seconds: 2 threads can show up to 200 %) and the seconds the trainer waited for a batch.
# Before each run: the 1-minute load average and the cores that other processes kept busy over one
# second (/proc/stat); with 2 cores, any other work makes the figures low and unreliable.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."   # the repository root

THREADS=2
PYTHON=/usr/bin/python3
TIME=/usr/bin/time
FMNIST=/usr/share/datasets/fashion-mnist
BUILD=build
DIR=${TMPDIR:-/tmp}/slimnn-train-data
ONLY=fmnist,jpeg,rss
JPEG_TRAIN=2000 JPEG_TEST=200 JPEG_LIMIT=512 JPEG_BATCH=32 JPEG_SIZE=500x375 RSS_LIMIT=128

while [ $# -gt 0 ]; do
	case "$1" in
	--only) ONLY=$2; shift ;;
	--dir) DIR=$2; shift ;;
	--build) BUILD=$2; shift ;;
	-h | --help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench/train_data.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
	shift
done
die() { echo "bench/train_data.sh: $*" >&2; exit 1; }
want() { [[ ",$ONLY," == *",$1,"* ]]; }
SLIMNN=$BUILD/slimnn
DECODE=$BUILD/bench_decode
make -s B="$BUILD" "$SLIMNN" "$DECODE" >/dev/null || die "make B=$BUILD $SLIMNN $DECODE failed"
[ -x "$TIME" ] || die "$TIME is missing: apt-get install time"
mkdir -p "$DIR"
OUT=$(mktemp -d "${TMPDIR:-/tmp}/slimnn-train-data-out.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

load1() { cut -d' ' -f1 /proc/loadavg; }
cpu_ticks() { awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9 }' /proc/stat; }
busy_cores() {   # cores kept busy by other processes over one second (nothing of ours runs now)
	local b0 t0 b1 t1
	read -r b0 t0 < <(cpu_ticks)
	sleep 1
	read -r b1 t1 < <(cpu_ticks)
	awk -v b="$((b1 - b0))" -v t="$((t1 - t0))" -v c="$(nproc)" 'BEGIN { printf "%.2f", t ? b / t * c : 0 }'
}
time_field() { sed -n "s/^[[:space:]]*$2: //p" "$1"; }

# run_train LABEL ARGS...: one training run of slimnn; appends a row to $OUT/rows:
#   label img/s loader-busy-% waited-s epoch-s peak-RSS-MiB wall-s cpu-% load1 busy-cores-before
#   others-cores-during
# others-cores-during: the CPU time that the whole machine spent busy during the run (/proc/stat)
# minus this process's own user + system time, over the run's wall time: other engineers' work.
N_RUN=0
run_train() {
	local label=$1 l b f b0 t0 b1 t1
	shift
	N_RUN=$((N_RUN + 1))
	f=$OUT/run$N_RUN
	l=$(load1)
	b=$(busy_cores)
	echo "-- $label (load average $l, other processes busy on $b cores just before)"
	printf '+'; printf ' %q' env OMP_NUM_THREADS=$THREADS "$SLIMNN" train "$@"; printf '\n'
	read -r b0 t0 < <(cpu_ticks)
	env OMP_NUM_THREADS=$THREADS "$TIME" -v -o "$f.time" "$SLIMNN" train "$@" >"$f.out" 2>&1 ||
		{ cat "$f.out" >&2; die "$label: slimnn train failed"; }
	read -r b1 t1 < <(cpu_ticks)
	grep -E '^(training|epoch|data|cached|skipped)' "$f.out" || true
	# "epoch  1/1  train loss ... |  155.7 s     385 img/s  (loader   0% busy, waited 0.0 s)"
	local e
	e=$(grep -E '^epoch +1/' "$f.out") || die "$label: no epoch line"
	awk -v label="$label" -v rss="$(time_field "$f.time" 'Maximum resident set size (kbytes)')" \
		-v wall="$(time_field "$f.time" 'Elapsed (wall clock) time (h:mm:ss or m:ss)')" \
		-v cpu="$(time_field "$f.time" 'Percent of CPU this job got')" -v l="$l" -v b="$b" \
		-v own="$(awk -v u="$(time_field "$f.time" 'User time (seconds)')" -v s="$(time_field "$f.time" 'System time (seconds)')" 'BEGIN { print u + s }')" \
		-v busy_s="$(awk -v d="$((b1 - b0))" -v hz="$(getconf CLK_TCK)" 'BEGIN { print d / hz }')" '
		{
			match($0, /[0-9.]+ s +[0-9.]+ img\/s/); split(substr($0, RSTART, RLENGTH), a, " +")
			match($0, /loader +[0-9.]+% busy, waited [0-9.]+ s/); s = substr($0, RSTART, RLENGTH)
			gsub(/loader +|% busy, waited | s$/, " ", s); split(s, c, " +")
			n = split(wall, w, ":"); secs = n == 3 ? w[1] * 3600 + w[2] * 60 + w[3] : w[1] * 60 + w[2]
			sub(/%/, "", cpu)
			o = secs > 0 ? (busy_s - own) / secs : 0
			printf "%s %s %s %s %s %.0f %.1f %s %s %s %.2f\n", label, a[3], c[2], c[3], a[1], rss / 1024, secs, cpu, l, b, o < 0 ? 0 : o
		}' <<<"$e" >>"$OUT/rows"
	echo
}

# run_eval LABEL ARGS...: one `slimnn eval` run; appends "label peak-RSS-MiB wall-s cpu-% others-cores" to $OUT/evals
run_eval() {
	local label=$1 f=$OUT/eval b0 t0 b1 t1
	shift
	echo "-- eval $label (load average $(load1), other processes busy on $(busy_cores) cores just before)"
	printf '+'; printf ' %q' "$SLIMNN" eval "$@"; printf '\n'
	read -r b0 t0 < <(cpu_ticks)
	"$TIME" -v -o "$f.time" "$SLIMNN" eval "$@" >"$f.out" 2>&1 || { cat "$f.out" >&2; die "eval $label failed"; }
	read -r b1 t1 < <(cpu_ticks)
	grep -E 'accuracy' "$f.out" || true
	awk -v label="$label" -v rss="$(time_field "$f.time" 'Maximum resident set size (kbytes)')" \
		-v wall="$(time_field "$f.time" 'Elapsed (wall clock) time (h:mm:ss or m:ss)')" \
		-v cpu="$(time_field "$f.time" 'Percent of CPU this job got')" \
		-v own="$(awk -v u="$(time_field "$f.time" 'User time (seconds)')" -v s="$(time_field "$f.time" 'System time (seconds)')" 'BEGIN { print u + s }')" \
		-v busy_s="$(awk -v d="$((b1 - b0))" -v hz="$(getconf CLK_TCK)" 'BEGIN { print d / hz }')" 'BEGIN {
			n = split(wall, w, ":"); secs = n == 3 ? w[1] * 3600 + w[2] * 60 + w[3] : w[1] * 60 + w[2]
			o = secs > 0 ? (busy_s - own) / secs : 0; sub(/%/, "", cpu)
			printf "%s %.0f %.1f %s %.2f\n", label, rss / 1024, secs, cpu, o < 0 ? 0 : o
		}' >>"$OUT/evals"
}

# table REF LABEL...: one row per label, the mean over its runs (and each run's img/s), relative to REF's
table() {
	local ref=$1
	shift
	echo "| run | img/s of each run | mean img/s | vs ${ref} | loader busy | waited s | peak RSS | process wall s | CPU | others' cores: before / during each run |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
	awk -v ref="$ref" -v labels="$*" '
		{ n[$1]++; img[$1] += $2; list[$1] = list[$1] (n[$1] > 1 ? ", " : "") $2; busy[$1] += $3; wait[$1] += $4
		  rss[$1] = rss[$1] > $6 ? rss[$1] : $6; wall[$1] += $7; cpu[$1] += $8; ld[$1] = ld[$1] (n[$1] > 1 ? ", " : "") $10 " / " $11 }
		END {
			k = split(labels, L, " ")
			for (i = 1; i <= k; i++) {
				x = L[i]; if (!n[x]) continue
				r = n[ref] ? sprintf("%.0f %%", 100 * (img[x] / n[x]) / (img[ref] / n[ref])) : ""
				printf "| %s | %s | %.0f | %s | %.0f %% | %.1f | %d MiB | %.0f | %.0f %% | %s |\n", x, list[x], img[x] / n[x], r,
					busy[x] / n[x], wait[x] / n[x], rss[x], wall[x] / n[x], cpu[x] / n[x], ld[x]
			}
		}' "$OUT/rows"
}

echo "== bench/train_data.sh: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1), $(nproc) CPUs," \
	"$(grep -o 'avx[^ ]*' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "slimnn $("$SLIMNN" --version | awk '{print $2}') (git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo +changes)), --threads $THREADS; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# ------------------------------------------------------------------------- fmnist
if want fmnist; then
	PNG=$DIR/fmnist-png
	if [ "$(find "$PNG" -name '*.png' 2>/dev/null | wc -l)" != 70000 ]; then
		echo "writing Fashion-MNIST as PNG files into $PNG (once; about 30 s)"
		rm -rf "$PNG"
		"$PYTHON" - "$FMNIST" "$PNG" <<'EOF'
import gzip, os, sys
import numpy as np
from PIL import Image
src, dst = sys.argv[1], sys.argv[2]
def idx(p):
    with gzip.open(p) as f:
        b = f.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], 'big') for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)
for split, pre in (('train', 'train'), ('test', 't10k')):
    x, y = idx(f'{src}/{pre}-images-idx3-ubyte.gz'), idx(f'{src}/{pre}-labels-idx1-ubyte.gz')
    for c in range(10):
        os.makedirs(f'{dst}/{split}/{c}', exist_ok=True)   # folder "k" sorts to class k
    for i in range(len(x)):
        Image.fromarray(x[i], 'L').save(f'{dst}/{split}/{y[i]}/{i:05d}.png')
EOF
	fi
	echo "== fmnist: models/cnn.arch, 1 epoch, batch 128, $THREADS threads: IDX against a PNG folder ($(du -sh "$PNG" | cut -f1))"
	echo
	common=(models/cnn.arch --epochs 1 --threads "$THREADS" --quiet -o "$OUT/m.slim")
	for cfg in idx png-cache-on png-cache-off png-cache-off png-cache-on idx; do
		case $cfg in
		idx) run_train idx "${common[@]}" ;;
		png-cache-on) run_train png-cache-on "${common[@]}" --data "$PNG" --cache on ;;
		png-cache-off) run_train png-cache-off "${common[@]}" --data "$PNG" --cache off ;;
		esac
	done
	table idx idx png-cache-on png-cache-off
	echo
fi

# ------------------------------------------------------------------------- jpeg, rss
if want jpeg || want rss; then
	JPG=$DIR/jpeg-$JPEG_SIZE
	if [ "$(find "$JPG" -name '*.jpg' 2>/dev/null | wc -l)" != $((JPEG_TRAIN + JPEG_TEST)) ]; then
		echo "writing $JPEG_TRAIN + $JPEG_TEST JPEGs of $JPEG_SIZE into $JPG (once; a minute or two)"
		rm -rf "$JPG"
		"$DECODE" --make "$JPG.tmp" --size "$JPEG_SIZE" --count $((JPEG_TRAIN + JPEG_TEST)) >/dev/null
		for c in 0 1 2 3 4 5 6 7 8 9; do mkdir -p "$JPG/train/c$c" "$JPG/test/c$c"; done
		for f in "$JPG.tmp/$JPEG_SIZE"/*.jpg; do
			i=$((10#$(basename "$f" .jpg)))
			split=train
			[ "$i" -ge "$JPEG_TRAIN" ] && split=test
			mv "$f" "$JPG/$split/c$((i % 10))/"
		done
		rm -rf "$JPG.tmp"
	fi
	mb=(models/mobilenetv2-224.arch --data "$JPG" --epochs 1 --batch "$JPEG_BATCH" --threads "$THREADS" --quiet
		-o "$OUT/m.slim")
fi
if want jpeg; then
	echo "== jpeg: models/mobilenetv2-224.arch on $JPEG_SIZE JPEGs ($(du -sh "$JPG" | cut -f1)), --cache off," \
		"batch $JPEG_BATCH, --limit $JPEG_LIMIT, $THREADS threads"
	echo
	for t in default 1 1 default; do
		if [ $t = default ]; then
			run_train "loader-threads-default" "${mb[@]}" --cache off --limit "$JPEG_LIMIT"
		else
			run_train "loader-threads-1" "${mb[@]}" --cache off --limit "$JPEG_LIMIT" --loader-threads 1
		fi
	done
	table loader-threads-default loader-threads-default loader-threads-1
	echo
fi
if want rss; then
	echo "== rss: peak RSS of the jpeg run: --cache off against --cache on (--limit $RSS_LIMIT), and --cache off" \
		"on 4x the images (--limit $((4 * RSS_LIMIT)))"
	echo
	run_train "cache-off-$RSS_LIMIT" "${mb[@]}" --cache off --limit "$RSS_LIMIT"
	run_train "cache-on-$RSS_LIMIT" "${mb[@]}" --cache on --limit "$RSS_LIMIT"
	run_train "cache-off-$((4 * RSS_LIMIT))" "${mb[@]}" --cache off --limit "$((4 * RSS_LIMIT))"
	table "cache-off-$RSS_LIMIT" "cache-off-$RSS_LIMIT" "cache-on-$RSS_LIMIT" "cache-off-$((4 * RSS_LIMIT))"
	echo
	EVAL_DIR=$DIR/jpeg-$JPEG_SIZE-test$JPEG_TRAIN   # test/ is the training folder: 2,000 images to evaluate
	mkdir -p "$EVAL_DIR"
	ln -sfn "../jpeg-$JPEG_SIZE/train" "$EVAL_DIR/test"
	ln -sfn "../jpeg-$JPEG_SIZE/test" "$EVAL_DIR/train"
	ev=("$OUT/m.slim" --data "$EVAL_DIR" --batch "$JPEG_BATCH" --threads "$THREADS")
	run_eval "cache-off-limit-512" "${ev[@]}" --cache off --limit 512
	run_eval "cache-off-all-$JPEG_TRAIN" "${ev[@]}" --cache off
	run_eval "cache-on-all-$JPEG_TRAIN" "${ev[@]}" --cache on
	echo
	echo "| slimnn eval, batch $JPEG_BATCH | peak RSS | process wall s | CPU | others' cores during |"
	echo "|---|---:|---:|---:|---:|"
	awk '{ printf "| %s | %d MiB | %.1f | %s %% | %s |\n", $1, $2, $3, $4, $5 }' "$OUT/evals"
	echo
	echo "- ring: 4 batches x $JPEG_BATCH x 3x224x224 floats = $((4 * JPEG_BATCH * 3 * 224 * 224 * 4 / 1048576)) MiB;" \
		"cache: 3x224x224 bytes an image, $(((JPEG_TRAIN + JPEG_TEST) * 3 * 224 * 224 / 1048576)) MiB for all" \
		"$((JPEG_TRAIN + JPEG_TEST)) (--limit applies after the folder is opened, so --cache on decodes them all)"
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
