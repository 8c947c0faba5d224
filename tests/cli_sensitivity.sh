#!/bin/bash
# Command-line tests of `slimnn sensitivity` and of per-layer targets in `slimnn prune`
# (--layer-targets, --from-sensitivity). Usage: tests/cli_sensitivity.sh path/to/slimnn
B=${1:-./build/slimnn}
. "$(dirname "$0")/cli-lib.sh"

# usage and bad input: nothing is measured
expect 0 "usage: slimnn sensitivity" "$B" sensitivity --help
expect 0 "sensitivity +accuracy with each layer pruned alone" "$B" --help
expect 2 "no MODEL given" "$B" sensitivity --limit 10
expect 2 "unknown option '--bogus'" "$B" sensitivity models/cnn.arch --bogus
expect 2 "--levels must ascend, got 0.2 after 0.5" "$B" sensitivity models/cnn.arch --levels 0.5,0.2
expect 2 "--levels expects fractions in \[0, 1\)" "$B" sensitivity models/cnn.arch --levels 0.5,1
expect 2 "--levels expects fractions" "$B" sensitivity models/cnn.arch --levels 0.1,,0.2
expect 2 "--granularity: unknown value 'row'" "$B" sensitivity models/cnn.arch --granularity row
expect 2 "--criterion bn ranks channels" "$B" sensitivity models/cnn.arch --criterion bn
expect 2 "--block sets the size of a block" "$B" sensitivity models/cnn.arch --block 8
expect 2 "--plot writes .svg or .png, got 'x.pdf'" "$B" sensitivity models/cnn.arch --plot x.pdf
expect 1 "data '$T/nodata' not found: give --data a folder" "$B" sensitivity models/cnn.arch --data "$T/nodata" --quiet
expect 1 "no layer 'nosuch'" "$B" sensitivity models/cnn.arch --ignore nosuch --limit 50 --quiet
expect 1 "nothing to measure" "$B" sensitivity models/cnn.arch --ignore conv1,conv2,fc1,fc2 --limit 50 --quiet
expect 1 "missing.slim" "$B" sensitivity "$T/missing.slim" --quiet

# a small trained model: the table, the CSV (a row per layer and level), a well-formed SVG
"$B" train models/cnn.arch --epochs 1 --limit 600 --quiet -o "$T/m.slim" >/dev/null 2>&1 || bad "training the test model failed"
expect 0 "^conv2 +18,432( +[0-9.]+){3}$" "$B" sensitivity "$T/m.slim" --limit 300 --levels 0.25,0.5,0.75 --quiet \
	--csv "$T/s.csv" --plot "$T/s.svg"
[ "$(head -n 1 "$T/s.csv")" = "layer,members,granularity,criterion,images,units,level,pruned,sparsity,accuracy,baseline,drop_points" ] \
	&& ok || bad "CSV header: $(head -n 1 "$T/s.csv")"
[ "$(wc -l <"$T/s.csv")" -eq 7 ] && ok || bad "the CSV has $(wc -l <"$T/s.csv") lines, expected 1 + 2 layers x 3 levels"
grep -q "^fc1,fc1,weight,l1,300,802816,0.5,401408,0.500000," "$T/s.csv" && ok || bad "no exact fc1 row at 0.5: $(grep ^fc1 "$T/s.csv")"
head -c 5 "$T/s.svg" | grep -q "<?xml" && tail -n 1 "$T/s.svg" | grep -q "^</svg>$" && ok || bad "the SVG is not a whole document"
[ "$(grep -c "<polyline" "$T/s.svg")" -eq 2 ] && grep -q ">conv2</text>" "$T/s.svg" && grep -q ">fc1</text>" "$T/s.svg" \
	&& grep -q ">test accuracy (%)</text>" "$T/s.svg" && ok || bad "the SVG lacks a line, the legend or the axis label"
if command -v xmllint >/dev/null; then xmllint --noout "$T/s.svg" && ok || bad "the SVG is not well-formed XML"; fi
[ "$(grep -c "<" "$T/s.svg")" = "$(grep -c ">" "$T/s.svg")" ] && ok || bad "the SVG has unbalanced tags"

# --json: one object, valid JSON, a list per layer
"$B" sensitivity "$T/m.slim" --limit 200 --levels 0,0.5 --json --quiet >"$T/s.json" 2>"$T/s.err"
[ "$(wc -l <"$T/s.json")" -eq 1 ] && grep -q '"layers": \[{"layer": "conv2", "members": \["conv2"\], "units": 18432, "pruned": \[0, 9216\]' "$T/s.json" \
	&& ok || bad "--json: $(head -c 300 "$T/s.json")"
if command -v python3 >/dev/null; then python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['layers'][0]['accuracy'][0] == d['baseline']" "$T/s.json" && ok || bad "--json is not valid JSON or level 0 is not the baseline"; fi

# filter granularity on a residual model: coupled groups are rows, with their members
expect 0 "layer2.0.conv2: layer2.0.conv2 layer2.0.downsample.0 layer2.1.conv2" "$B" sensitivity models/resnet.arch \
	--granularity filter --levels 0.5 --limit 50 --quiet

# PNG by gnuplot; without gnuplot a clear error and no file
if command -v gnuplot >/dev/null; then
	"$B" sensitivity "$T/m.slim" --limit 100 --levels 0.5 --quiet --plot "$T/s.png" >/dev/null 2>&1
	[ "$(head -c 4 "$T/s.png" | tail -c 3)" = "PNG" ] && ok || bad "--plot s.png did not write a PNG"
fi
expect 1 "drawn by gnuplot, which is not installed .*--plot $T/n.svg" env PATH=/nonexistent "$B" sensitivity "$T/m.slim" \
	--limit 50 --levels 0.5 --quiet --plot "$T/n.png"
[ -z "$(ls "$T" | grep "^n\.png")" ] && ok || bad "a failed PNG plot left a file: $(ls "$T")"

# prune --layer-targets: exact per layer; strict file errors with file:line
printf '# targets\nconv2 0.5\nfc1 0.9   # the big one\n' >"$T/t.txt"
expect 0 "per-layer targets from .*t.txt: conv2 50.0%, fc1 90.0%; others 0.0%" "$B" prune "$T/m.slim" --layer-targets "$T/t.txt" \
	--steps 1 --finetune-epochs 0 --limit 200 --quiet -o "$T/lt.slim"
expect 0 "Conv2d-5 +\[-1, 64, 14, 14\] +18,432 +3x3 +[0-9,]+ +50\.0%" "$B" summary "$T/lt.slim" --macs
expect 0 "Linear-10 +\[-1, 256\] +803,072 +3136->256 +[0-9,]+ +90\.0%" "$B" summary "$T/lt.slim" --macs
printf 'conv2 0.5\nconv7 0.5\n' >"$T/bad.txt"
expect 1 "bad.txt:2: the model has no layer 'conv7'" "$B" prune "$T/m.slim" --layer-targets "$T/bad.txt" --limit 50 -o "$T/x.slim"
printf 'conv2 0.5\nfc1 high\n' >"$T/bad.txt"
expect 1 "bad.txt:2: the target of 'fc1' must be a number in \[0, 1\), got 'high'" "$B" prune "$T/m.slim" --layer-targets "$T/bad.txt" --limit 50 -o "$T/x.slim"
printf 'fc1 0.5\n' >"$T/bad.txt"
expect 1 "bad.txt:1: 'fc1' is not a layer that filter granularity prunes" "$B" prune "$T/m.slim" --granularity filter \
	--layer-targets "$T/bad.txt" --limit 50 -o "$T/x.slim"
expect 1 "cannot open '$T/none.txt'" "$B" prune "$T/m.slim" --layer-targets "$T/none.txt" --limit 50 -o "$T/x.slim"
expect 1 "'conv2' has a target but --ignore names it" "$B" prune "$T/m.slim" --layer-targets "$T/t.txt" --ignore conv2 --limit 50 -o "$T/x.slim"
[ ! -e "$T/x.slim" ] && ok || bad "a failed prune left an output file"
expect 2 "work with --scope layer" "$B" prune "$T/m.slim" --layer-targets "$T/t.txt" --scope global -o "$T/x.slim"
expect 2 "give one" "$B" prune "$T/m.slim" --layer-targets "$T/t.txt" --from-sensitivity "$T/s.csv" --max-drop 1 -o "$T/x.slim"

# prune --from-sensitivity: targets by the max-drop rule, from the CSV written above
expect 2 "--from-sensitivity needs --max-drop" "$B" prune "$T/m.slim" --from-sensitivity "$T/s.csv" -o "$T/x.slim"
expect 0 "per-layer targets from .*s.csv: conv2 [0-9.]+%, fc1 [0-9.]+%" "$B" prune "$T/m.slim" --from-sensitivity "$T/s.csv" \
	--max-drop 100 --steps 1 --finetune-epochs 0 --limit 100 --quiet -o "$T/fs.slim"
expect 0 "per-layer targets from .*: conv2 75.0%, fc1 75.0%" "$B" prune "$T/m.slim" --from-sensitivity "$T/s.csv" \
	--max-drop 100 --steps 1 --finetune-epochs 0 --limit 100 --quiet -o "$T/fs.slim"
expect 1 "measured at weight granularity but pruning runs at filter" "$B" prune "$T/m.slim" --granularity filter \
	--from-sensitivity "$T/s.csv" --max-drop 1 --limit 50 -o "$T/x.slim"
printf 'layer,granularity,level,accuracy\nconv2,weight,0.5,0.9\n' >"$T/bad.csv"
expect 1 "bad.csv:1: the header lacks the column 'baseline'" "$B" prune "$T/m.slim" --from-sensitivity "$T/bad.csv" --max-drop 1 \
	--limit 50 -o "$T/x.slim"

finish
