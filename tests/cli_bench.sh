#!/bin/bash
# Command-line tests of `slimnn bench`: the report's structure (never its timings), mult-adds
# that add up to summary's, --json as one well-formed object, and bad input.
# Usage: tests/cli_bench.sh path/to/slimnn
B=${1:-./build/slimnn}
. "$(dirname "$0")/cli-lib.sh"
Q=(--repeats 2 --warmup 1 --threads 1)   # quick: the tests check structure, not speed

# usage errors: exit 2 with the reason
expect 0 "usage: slimnn bench MODEL" "$B" bench --help
expect 0 "bench +inference latency" "$B" --help
expect 2 "no MODEL given" "$B" bench
expect 2 "expected exactly one MODEL" "$B" bench models/cnn.arch models/resnet.arch
expect 2 "--batch expects an integer in \[1, 65536\], got '0'" "$B" bench models/cnn.arch --batch 0
expect 2 "--batch expects an integer in \[1, 65536\], got '1e9'" "$B" bench models/cnn.arch --batch 1e9
expect 2 "--repeats expects an integer in \[1, 10000\]" "$B" bench models/cnn.arch --repeats 0
expect 2 "--warmup expects an integer" "$B" bench models/cnn.arch --warmup -1
expect 2 "--threads expects an integer" "$B" bench models/cnn.arch --threads two
expect 2 "--sparse expects auto, off or force, got 'some'" "$B" bench models/cnn.arch --sparse some
expect 2 "--sparse picks kernels while preparing" "$B" bench models/cnn.arch --no-prepare --sparse force
expect 2 "--input expects CxHxW .*got '1x28'" "$B" bench models/cnn.arch --input 1x28
expect 2 "unknown option '--batches'" "$B" bench models/cnn.arch --batches 2
expect 2 "option --seed needs a value" "$B" bench models/cnn.arch --seed
# runtime errors: exit 1, one line naming the problem
expect 1 "cannot open model or architecture file '$T/none.arch'" "$B" bench "$T/none.arch"
expect 1 "a batch of 65536 needs [0-9]+ MiB .*use a smaller --batch" "$B" bench models/resnet18-224.arch --batch 65536 "${Q[@]}"
expect 1 "layer 'pool2' .*the input is too small for it" "$B" bench models/cnn.arch --input 1x2x2 "${Q[@]}"
printf 'input x shape=1x8x8\nconv c out=4 k=3 act=gelu\n' > "$T/bad.arch"
expect 1 "bad.arch:2:22: bad value 'gelu' for act=" "$B" bench "$T/bad.arch"

# the report: one row per layer of the prepared cnn (BN folded, ReLU fused, Dropout gone)
out=$("$B" bench models/cnn.arch --batch 4 "${Q[@]}" 2>&1); rc=$?
[ $rc -eq 0 ] && ok || bad "bench cnn exit $rc: $out"
echo "$out" | grep -Eq "^prepared: 2 BatchNorm folded, 2 activations fused, 1 Dropout removed \(14 -> 9 layers\)" \
	&& ok || bad "no prepare line: $out"
# (conv1 reads one channel: groups 1 = channels 1 makes it a depthwise conv with multiplier 32)
echo "$out" | grep -Eq "^conv1 +Conv2d +3x3 \+relu +\[4, 32, 28, 28\] +250,880 +[0-9.]+ +[0-9.]+% +[0-9.]+ +depthwise direct sn_f32_dwconv_flat_3x3__" \
	&& ok || bad "no conv1 row: $out"
# conv2 (32 -> 64, 3x3, 784 pixels over the batch) on oneDNN by src/ops/conv.c's rule, naming its
# code; SLIMNN_CONV_ENGINE=own puts it back on slimnn's own im2col + GEMM
echo "$out" | grep -Eq "^conv2 +Conv2d +3x3 \+relu +\[4, 64, 14, 14\] +3,625,216 .* oneDNN (jit|brgconv)[a-z_0-9]*:[a-z_0-9]+$" \
	&& ok || bad "no conv2 row on oneDNN: $out"
out=$(SLIMNN_CONV_ENGINE=own "$B" bench models/cnn.arch --batch 4 "${Q[@]}" 2>&1)
echo "$out" | grep -Eq "^conv2 +Conv2d +3x3 \+relu +\[4, 64, 14, 14\] +3,625,216 .* im2col \+ GEMM$" \
	&& ok || bad "no conv2 row on the own path: $out"
echo "$out" | grep -Eq "^fc1 +Linear +3136->256 +\[4, 256\] +803,072 .* GEMM$" && ok || bad "no fc1 row: $out"
echo "$out" | grep -Eq "^relu3 +ReLU .* elementwise, in place$" && ok || bad "no relu3 row: $out"
[ "$(echo "$out" | grep -Ec "^(conv|pool|flatten|fc|relu)[0-9a-z]* +[A-Z]")" -eq 8 ] && ok || bad "not 8 layer rows: $out"
! echo "$out" | grep -Eq "^(bn1|relu1|drop) " && ok || bad "folded layers still listed: $out"
echo "$out" | grep -Eq "^Mult-adds per image: 4,681,738$" && ok || bad "prepared mult-adds: $out"
echo "$out" | grep -Eq "^Latency: [0-9.]+ ms median \([0-9.]+ ms fastest\) per batch of 4: [0-9.]+ images/s" \
	&& ok || bad "no latency line: $out"
echo "$out" | grep -Eq "^Memory: activation arena [0-9.]+ MiB, parameters 3\.15 MiB, peak RSS [0-9.]+ MiB" \
	&& ok || bad "no memory line: $out"

# mult-adds: the rows add up to the total; unprepared, the total is summary's
layer_sum() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(l["mult_adds"] for l in d["layers"]), d["total"]["mult_adds_per_image"], len(d["layers"]))'; }
summary_sum() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["totals"]["mult_adds"], d["totals"]["mult_adds"], len(d["layers"]))'; }
if command -v python3 >/dev/null; then
	for m in cnn resnet mobilenetv2 inception; do
		want=$("$B" summary models/$m.arch --json | summary_sum)
		got=$("$B" bench models/$m.arch --no-prepare --json "${Q[@]}" | layer_sum)
		[ -n "$got" ] && [ "$got" = "$want" ] && ok || bad "$m --no-prepare: layer sum, total, rows '$got'; summary: '$want'"
		read -r sum total rows <<< "$("$B" bench models/$m.arch --json "${Q[@]}" | layer_sum)"
		[ -n "$sum" ] && [ "$sum" = "$total" ] && ok || bad "$m prepared: layer mult-adds $sum do not add up to the total $total"
	done
fi

# --json: one line, one object, the fields a script reads
out=$("$B" bench models/mobilenetv2.arch --json --batch 2 "${Q[@]}" 2>/dev/null); rc=$?
[ $rc -eq 0 ] && [ "$(echo "$out" | wc -l)" -eq 1 ] && ok || bad "--json exit $rc or not one line: $out"
echo "$out" | grep -q '^{"model": "models/mobilenetv2.arch", "batch": 2, "threads": 1, "input": \[1, 28, 28\], "warmup": 1, "repeats": 2, "seed": 1, "prepared": true, "sparse": "auto", "prepare": {"folded_bn": ' \
	&& ok || bad "--json head: $out"
if command -v python3 >/dev/null; then
	echo "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert set(d["total"]) == {"median_ms", "min_ms", "images_per_s", "mult_adds_per_image", "gflops", "layer_sum_ms", "warmup_passes"}, d["total"]
assert d["total"]["warmup_passes"] >= d["warmup"] == 1
assert d["memory"]["arena_bytes"] > 0 and d["memory"]["param_bytes"] > 0 and d["memory"]["peak_rss_bytes"] > 0
assert d["total"]["median_ms"] >= d["total"]["min_ms"] > 0
assert abs(sum(l["share"] for l in d["layers"]) - 1) < 1e-3
assert any(l["kernel"].endswith("+relu6") for l in d["layers"])
assert any(" s2 g" in l["kernel"] and l["path"].startswith("depthwise direct sn_f32_dwconv_flat_3x3__") for l in d["layers"])
assert not any(l["op"] in ("BatchNorm2d", "Dropout") for l in d["layers"])
assert all(l["output_shape"][0] == 2 for l in d["layers"])
' && ok || bad "--json content: $out"
fi

# trained models: a .slim (its BN statistics fold) and an ONNX file; their input shape is fixed
"$B" train models/cnn-dsc.arch --epochs 1 --limit 64 --quiet -o "$T/m.slim" >/dev/null 2>&1 || bad "training the test model failed"
expect 0 "^prepared: 3 BatchNorm folded, 3 activations fused, 1 Dropout removed \\(17 -> 10 layers\\)" "$B" bench "$T/m.slim" "${Q[@]}"
expect 0 "^fc1 +Linear .* sparse" "$B" bench "$T/m.slim" --sparse force "${Q[@]}"
expect 0 "^not prepared \(--no-prepare\)" "$B" bench "$T/m.slim" --no-prepare "${Q[@]}"
expect 0 "^bn1 +BatchNorm2d" "$B" bench "$T/m.slim" --no-prepare "${Q[@]}"
expect 1 "use the input shape the model was trained on" "$B" bench "$T/m.slim" --input 1x32x32 "${Q[@]}"
"$B" export models/cnn.arch -o "$T/c.onnx" >/dev/null 2>&1 || bad "export failed"
expect 0 "^Mult-adds per image: 4,681,738$" "$B" bench "$T/c.onnx" "${Q[@]}"
# an architecture runs on another input shape
expect 0 "^fc +Linear +64->10 +\[1, 10\]" "$B" bench models/resnet.arch --input 1x40x40 "${Q[@]}"

finish
