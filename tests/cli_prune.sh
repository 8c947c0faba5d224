#!/bin/bash
# Command-line tests of `slimnn prune`. Usage: tests/cli_prune.sh path/to/slimnn
B=${1:-./build/slimnn}
. "$(dirname "$0")/cli-lib.sh"
# json_get FILE KEY: the first number after "KEY": in FILE
json_get() { grep -o "\"$2\": [-0-9.e]*" "$1" | head -n 1 | sed 's/.*: //'; }

# usage and help
expect 0 "usage: slimnn prune" "$B" prune --help
expect 0 "prune " "$B" --help
expect 2 "no MODEL given" "$B" prune --target 0.5 -o "$T/x.slim"
expect 2 "no --target given" "$B" prune models/cnn.arch -o "$T/x.slim"
expect 2 "no output file" "$B" prune models/cnn.arch --target 0.5
expect 2 "--target expects a number in \[0, 0.999999\]" "$B" prune models/cnn.arch --target 1.5 -o "$T/x.slim"
expect 2 "--granularity: unknown value 'row'" "$B" prune models/cnn.arch --target 0.5 --granularity row -o "$T/x.slim"
expect 2 "criterion bn ranks channels" "$B" prune models/cnn.arch --target 0.5 --criterion bn -o "$T/x.slim"
expect 2 "--steps expects an integer" "$B" prune models/cnn.arch --target 0.5 --steps 0 -o "$T/x.slim"
expect 2 "unknown option '--bogus'" "$B" prune models/cnn.arch --bogus
expect 2 "--augment: unknown value 'jitter'" "$B" prune models/cnn.arch --target 0.5 --augment jitter -o "$T/x.slim"
expect 2 "--distill expects an integer in \[0, 1\]" "$B" prune models/cnn.arch --target 0.5 --distill 2 -o "$T/x.slim"
expect 1 "no layer 'nosuch'" "$B" prune models/cnn.arch --target 0.5 --ignore conv1,nosuch --limit 100 -o "$T/x.slim"
expect 1 "nothing to prune" "$B" prune models/cnn.arch --target 0.5 --ignore conv1,conv2,fc1,fc2 --limit 100 -o "$T/x.slim"
[ ! -e "$T/x.slim" ] && ok || bad "a failed prune left an output file"
expect 1 "missing.slim" "$B" prune "$T/missing.slim" --target 0.5 -o "$T/x.slim"

# the coupled groups, without data
expect 0 "made by +conv2" "$B" prune models/cnn.arch --show-groups
expect 0 "made by +layer2.0.conv2 layer2.0.downsample.0 layer2.1.conv2" "$B" prune models/resnet.arch --show-groups
expect 0 "tied by +b7.add b8.add" "$B" prune models/mobilenetv2.arch --show-groups
expect 0 "concat +inc.cat \(channels 16..39 of 72\)" "$B" prune models/inception.arch --show-groups
expect 0 "fc1 \(49 features a channel\)" "$B" prune models/cnn.arch --show-groups

# a small trained model, pruned by weights: report rows, sparse file, accuracy in the metadata
"$B" train models/cnn.arch --epochs 1 --limit 600 --quiet -o "$T/m.slim" >/dev/null 2>&1 || bad "training the test model failed"
expect 0 "saved .*w.slim: test accuracy" "$B" prune "$T/m.slim" --target 0.9 --steps 2 --finetune-epochs 1 --limit 600 --quiet -o "$T/w.slim"
expect 0 "^ +2 +90\.0% +90\.0%" "$B" prune "$T/m.slim" --target 0.9 --steps 2 --finetune-epochs 0 --limit 300 --quiet -o "$T/w0.slim"
"$B" summary "$T/w.slim" --json >"$T/w.json" 2>&1
total=$(json_get "$T/w.json" total_params); nz=$(json_get "$T/w.json" nonzero_params)
[ "$total" = 824554 ] && [ -n "$nz" ] && [ "$nz" -lt $((total * 13 / 100)) ] && ok || bad "weight pruning left $nz of $total non-zero"
dense=$(stat -c %s "$T/m.slim"); small=$(stat -c %s "$T/w.slim")
[ "$small" -lt $((dense * 30 / 100)) ] && ok || bad "the 90% sparse file is $small bytes, the dense one $dense"
expect 0 "Test accuracy: [0-9.]+%" "$B" summary "$T/w.slim"
expect 0 "\"accuracy\": 0\.[0-9]+" "$B" eval "$T/w.slim" --limit 200 --json
# fine-tuning the pruned model keeps its zeros (the masks are in the file)
"$B" train "$T/w.slim" --epochs 1 --limit 300 --quiet -o "$T/wt.slim" >/dev/null 2>&1
"$B" summary "$T/wt.slim" --json >"$T/wt.json" 2>&1
[ "$(json_get "$T/wt.json" nonzero_params)" -le "$nz" ] && ok || bad "fine-tuning a pruned model revived weights"

# --json: one object with the rows and the totals
"$B" prune "$T/m.slim" --target 0.8 --steps 2 --finetune-epochs 0 --limit 300 --json -o "$T/j.slim" >"$T/p.json" 2>"$T/p.err"
[ "$(head -c 1 "$T/p.json")" = "{" ] && [ "$(wc -l <"$T/p.json")" -eq 1 ] && ok || bad "--json did not print one object: $(head -c 200 "$T/p.json")"
grep -q '"steps": \[{"step": 1, ' "$T/p.json" && grep -q '"after": {"step": 2, ' "$T/p.json" && ok || bad "--json lacks rows: $(head -c 300 "$T/p.json")"
if command -v python3 >/dev/null; then python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$T/p.json" && ok || bad "--json is not valid JSON"; fi

# --data none: magnitude pruning of a model no data set here fits (a 3x32x32 input), no accuracy
printf 'input x shape=3x32x32\nconv c1 out=8 k=3 pad=1\nbn b1\nrelu r1\nconv c2 out=16 k=3 pad=1\nbn b2\nrelu r2\ngap g\nflatten f\nlinear fc out=10\n' >"$T/rgb.arch"
expect 0 "^ +1 +50\.0% +50\.0% .* — +— " "$B" prune "$T/rgb.arch" --granularity filter --target 0.5 --steps 1 --data none --ignore fc -o "$T/rgb.slim"
"$B" summary "$T/rgb.slim" --json >"$T/rgb.json" 2>&1
[ "$(json_get "$T/rgb.json" total_params)" = 522 ] && ok || bad "--data none: pruned c1 and c2 to 4 and 8 filters should leave 522 params (112+8+296+16+90), got $(json_get "$T/rgb.json" total_params)"
expect 0 '"accuracy": null' "$B" prune "$T/rgb.arch" --target 0.5 --steps 1 --data none --json -o "$T/rgb2.slim"
expect 2 "--data none: there is nothing to fine-tune on" "$B" prune "$T/rgb.arch" --target 0.5 --data none --finetune-epochs 1 -o "$T/x.slim"
expect 1 "taylor criterion needs data" "$B" prune "$T/rgb.arch" --target 0.5 --data none --criterion taylor -o "$T/x.slim"
expect 1 "accuracy budget .* needs test data" "$B" prune "$T/rgb.arch" --target 0.5 --data none --max-drop 1 -o "$T/x.slim"
expect 1 "expects inputs \[-1, 3, 32, 32\] but the data set has 1x28x28 images" "$B" prune "$T/rgb.arch" --target 0.5 --limit 100 -o "$T/x.slim"
[ ! -e "$T/x.slim" ] && ok || bad "a refused prune left an output file"

# --max-drop 0 with a brutal one-shot round: stopped, the input model kept
expect 0 "over budget: undone" "$B" prune "$T/m.slim" --target 0.999 --steps 1 --finetune-epochs 0 --max-drop 0 --limit 300 --quiet -o "$T/d.slim"
"$B" summary "$T/d.slim" --json >"$T/d.json" 2>&1
[ "$(json_get "$T/d.json" nonzero_params)" -gt 800000 ] && ok || bad "--max-drop did not keep the model within budget"

# filters: a smaller dense model, conv2 narrower, fc1 follows
expect 0 "saved .*f.slim" "$B" prune "$T/m.slim" --granularity filter --target 0.6 --steps 2 --finetune-epochs 0 --limit 300 --quiet -o "$T/f.slim"
expect 0 "Conv2d-5 +\[-1, 26, 14, 14\] +7,488" "$B" summary "$T/f.slim"
"$B" summary "$T/f.slim" --json >"$T/f.json" 2>&1
[ "$(json_get "$T/f.json" mult_adds)" -lt 2320000 ] && ok || bad "filter pruning did not halve the mult-adds: $(json_get "$T/f.json" mult_adds)"
expect 0 "saved" "$B" prune "$T/m.slim" --granularity channel --criterion bn --scope global --target 0.5 --steps 1 --finetune-epochs 0 --limit 200 --quiet -o "$T/fb.slim"
expect 0 "saved" "$B" prune "$T/m.slim" --target 0.5 --steps 1 --finetune-epochs 1 --distill 1 --augment crop,flip --limit 200 --quiet -o "$T/kd.slim"
expect 0 "saved" "$B" prune models/resnet.arch --granularity filter --target 0.5 --steps 1 --finetune-epochs 0 --limit 100 --quiet -o "$T/r.slim"

finish
