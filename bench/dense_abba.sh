#!/bin/bash
# Dense convs: slimnn's own path and its oneDNN path (build/bench_onednn --slimnn-only 1) against
# PyTorch (bench/torch_conv_min.py), forward and one training step, in the order slimnn, PyTorch,
# PyTorch, slimnn, each the fastest of R runs (a busy machine preempts many runs; the fastest is
# the one it did not), then a Markdown table of the faster round of each engine
# (docs/benchmarks.md, "Dense convolutions on oneDNN").
#   T=1 R=11 bash bench/dense_abba.sh [N,Cin,H,W,Cout,k,stride ...]     (make build/bench_onednn first)
cd "$(dirname "$0")/.." || exit 2
T=${T:-1}; R=${R:-11}
S=("$@")
[ ${#S[@]} -gt 0 ] || S=(1,3,224,224,32,3,2 1,32,112,112,64,1,1 1,128,56,56,128,3,1 1,256,28,28,256,1,1
	32,32,14,14,64,3,1 1,64,56,56,64,3,1 1,512,7,7,512,3,1 8,512,7,7,512,3,1)
ENV=(MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967295 MALLOC_TOP_PAD_=67108864
	OMP_NUM_THREADS="$T" OPENBLAS_NUM_THREADS="$T")
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
echo "start: $(uptime)"
echo "flags: $(grep -o -w 'avx2\|fma\|avx512f\|avx512_vnni\|avx512_bf16\|avx_vnni\|amx_tile' /proc/cpuinfo | sort -u | tr '\n' ' ')"
for r in A B B A; do
	if [ $r = A ]; then env "${ENV[@]}" ./build/bench_onednn --threads "$T" --runs "$R" --min 1 --slimnn-only 1 "${S[@]}" | sed "s/^/S /"
	else env "${ENV[@]}" /usr/bin/python3 bench/torch_conv_min.py "$T" "$R" "${S[@]}" | sed "s/^/T /"; fi
done >"$OUT"
echo "end: $(uptime)"
python3 - "$OUT" <<'PY'
import collections, re, sys
own = collections.defaultdict(lambda: [1e9, 1e9]); dn = collections.defaultdict(lambda: [1e9, 1e9])
pick = {}; tf = collections.defaultdict(lambda: 1e9); tt = collections.defaultdict(lambda: 1e9)
for l in open(sys.argv[1]):
    m = re.match(r"S (\S+)\s+slimnn-(own|onednn):(fwd|train\(f\+b\))\s+([\d.]+) ms", l)
    if m:
        d = own if m[2] == "own" else dn
        i = 0 if m[3] == "fwd" else 1
        d[m[1]][i] = min(d[m[1]][i], float(m[4]))
        continue
    m = re.match(r"S (\S+)\s+own/onednn.*auto runs forward on (\w+), training on (\w+)", l)
    if m:
        pick[m[1]] = (m[2], m[3])
        continue
    m = re.match(r"T (\S+)\s+torch eager\s+([\d.]+) ms.*jit\s+([\d.]+) ms\s+train\(f\+b\)\s+([\d.]+)", l)
    if m:
        tf[m[1]] = min(tf[m[1]], float(m[2]), float(m[3]))
        tt[m[1]] = min(tt[m[1]], float(m[4]))
def macs(s):
    N, C, H, W, O, k, st = map(int, s.split(","))
    p = k // 2
    return N * O * ((H + 2 * p - k) // st + 1) * ((W + 2 * p - k) // st + 1) * C * k * k
def median(v):
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
print("| N,Cin,H,W,Cout,k,s | own | oneDNN | default (fwd / train) | PyTorch | PyTorch / slimnn | GFLOP/s | train f+b: own / oneDNN / PyTorch | PyTorch / slimnn |")
print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
rf, rt = [], []
for s in pick:
    pf, pt = pick[s]
    sf = dn[s][0] if pf == "onednn" else own[s][0]
    st = dn[s][1] if pt == "onednn" else own[s][1]
    rf.append(tf[s] / sf); rt.append(tt[s] / st)
    print(f"| {s} | {own[s][0]:.3f} | {dn[s][0]:.3f} | {pf} / {pt} | {tf[s]:.3f} | {tf[s] / sf:.2f}× | "
          f"{2 * macs(s) / sf * 1e-6:.0f} | {own[s][1]:.2f} / {dn[s][1]:.2f} / {tt[s]:.2f} | {tt[s] / st:.2f}× |")
print(f"\nmedian PyTorch / slimnn: forward {median(rf):.2f}×, training {median(rt):.2f}×")
PY
