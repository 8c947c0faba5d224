#!/bin/bash
# Command-line tests of `slimnn lighten`. Usage: tests/cli_lighten.sh path/to/slimnn
B=${1:-./build/slimnn}
. "$(dirname "$0")/cli-lib.sh"

# usage errors
expect 0 "usage: slimnn lighten" "$B" lighten --help
expect 0 "lighten +replace layers" "$B" --help
expect 2 "no transform chosen" "$B" lighten models/cnn.arch -o "$T/x.slim"
expect 2 "no output file" "$B" lighten models/cnn.arch --dsc
expect 2 "no MODEL given" "$B" lighten --dsc -o "$T/x.slim"
expect 2 "--kd-alpha expects a number in \[0, 1\]" "$B" lighten models/cnn.arch --dsc --kd-alpha 2 -o "$T/x.slim"
expect 2 "unknown option '--dcs'" "$B" lighten models/cnn.arch --dcs -o "$T/x.slim"
expect 1 "architecture without trained weights" "$B" lighten models/cnn.arch --dsc -o "$T/x.slim"

# a model the default data does not fit (3x6x6 inputs, from ONNX): lightened without data;
# an explicit --data that does not fit is an error; --data none cannot fine-tune
RA=tests/fixtures/onnx/residual_add/model.onnx
expect 0 "no data \(the default data set's 1x28x28 images do not fit the model\)" "$B" lighten "$RA" --dsc --min-saving 0 -o "$T/ra.slim"
expect 0 "params +280 → 119" "$B" lighten "$RA" --dsc --min-saving 0 --data none -o "$T/ra2.slim"
expect 1 "expects inputs \[-1, 3, 6, 6\] but the data set has 1x28x28" "$B" lighten "$RA" --dsc --data /usr/share/datasets/fashion-mnist -o "$T/x.slim"
expect 2 "--data none: there is nothing to fine-tune on" "$B" lighten "$RA" --dsc --data none --finetune-epochs 1 -o "$T/x.slim"
[ ! -e "$T/x.slim" ] && ok || bad "a refused lighten left an output file"

# a small trained model to lighten
"$B" train models/cnn.arch --epochs 1 --limit 1000 --quiet -o "$T/m.slim" >/dev/null 2>&1 || bad "training the test model failed"
expect 1 "no layer named 'conv9'" "$B" lighten "$T/m.slim" --dsc --layers conv9 --limit 200 -o "$T/x.slim"
[ ! -e "$T/x.slim" ] && ok || bad "a failed lighten left an output file"

# --dsc: conv2 replaced, conv1 skipped with its reason, 4.64 M -> 1.49 M, accuracies measured
out=$("$B" lighten "$T/m.slim" --dsc --limit 500 -o "$T/d.slim" 2>&1); rc=$?
[ $rc -eq 0 ] && ok || bad "lighten --dsc exit $rc: $out"
echo "$out" | grep -Eq "^conv2 +dsc .*18,432 → 2,400" && ok || bad "no conv2 dsc row: $out"
echo "$out" | grep -Eq "^skipped conv1 \(dsc\): reads 1 channel" && ok || bad "conv1 not skipped with its reason: $out"
echo "$out" | grep -Eq "mult-adds +4\.64 M → 1\.49 M \(3\.12×\)" && ok || bad "no 4.64 M -> 1.49 M line: $out"
echo "$out" | grep -Eq "closed form \(no training\) +[0-9.]+%" && ok || bad "no closed-form accuracy: $out"
expect 0 "\"mult_adds\": 1489546" "$B" summary "$T/d.slim" --json
expect 0 "test_accuracy" "$B" summary "$T/d.slim" --json
expect 0 "mult-adds .*→ .*\(3\.12×\)" "$B" summary "$T/m.slim" "$T/d.slim"
expect 0 "\"accuracy\": 0\.[0-9]+" "$B" eval "$T/d.slim" --limit 200 --json

# --json is one object; the linear variant has no BN; --gap-head takes the head to 64 -> 256
out=$("$B" lighten "$T/m.slim" --dsc --dsc-linear --gap-head --json --limit 300 -o "$T/g.slim" 2>/dev/null)
[ "$(echo "$out" | wc -l)" -eq 1 ] && echo "$out" | grep -q '^{"model": .*"params_after": 22026,' && ok || bad "--json: $out"
echo "$out" | grep -q '"transform": "gap-head", "replaced_by": "fc1_gap, fc1", "old_params": 803072, "new_params": 16640' \
	&& ok || bad "--json lacks the gap-head layer: $out"
if command -v python3 >/dev/null; then
	echo "$out" | python3 -c 'import json,sys; json.load(sys.stdin)' && ok || bad "--json is not valid JSON"
fi

# recovery: one epoch of distillation on a subset, the epoch line and the three accuracies
expect 0 "after 1 epoch of distillation +[0-9.]+%" "$B" lighten "$T/m.slim" --dsc --data "$DATA" --finetune-epochs 1 \
	--limit 500 --quiet -o "$T/f.slim"
expect 0 "after 1 epoch of fine-tuning" "$B" lighten "$T/m.slim" --dsc --no-distill --finetune-epochs 1 --limit 300 \
	--quiet -o "$T/f2.slim"
out=$("$B" lighten "$T/m.slim" --dsc --finetune-epochs 1 --limit 300 --quiet --json -o "$T/f3.slim" 2>/dev/null)
echo "$out" | grep -Eq '"finetuned": 0\.[0-9]+' && [ "$(echo "$out" | wc -l)" -eq 1 ] && ok || bad "--json with fine-tuning: $out"

# asym and no partial output on an unwritable destination
expect 0 "^conv2 +asym" "$B" lighten "$T/m.slim" --asym --rank 8 --limit 200 -o "$T/a.slim"
expect 1 "nodir" "$B" lighten "$T/m.slim" --dsc --limit 200 -o "$T/nodir/x.slim"
[ -z "$(ls "$T" | grep -E '\.tmp')" ] && ok || bad "temporary files left behind: $(ls "$T")"

finish
