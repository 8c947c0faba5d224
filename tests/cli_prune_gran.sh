#!/bin/bash
# Command-line tests of `slimnn prune` with the neuron and block granularities and the taylor
# criterion. Usage: tests/cli_prune_gran.sh path/to/slimnn
B=${1:-./build/slimnn}
. "$(dirname "$0")/cli-lib.sh"
# json_get FILE KEY: the first number after "KEY": in FILE
json_get() { grep -o "\"$2\": [-0-9.e]*" "$1" | head -n 1 | sed 's/.*: //'; }
# after_get FILE KEY: KEY of the "after" row of a prune --json report
after_get() { grep -o '"after": {[^}]*}' "$1" | grep -o "\"$2\": [-0-9.e]*" | sed 's/.*: //'; }

# help and bad values: usage errors (exit 2), nothing written
expect 0 "\| neuron" "$B" prune --help
expect 0 "--block N" "$B" prune --help
expect 0 "--taylor-batches N" "$B" prune --help
expect 2 "--block expects an integer in \[1, 4096\]" "$B" prune models/cnn.arch --target 0.5 --granularity block --block 0 -o "$T/x.slim"
expect 2 "--block expects an integer" "$B" prune models/cnn.arch --target 0.5 --granularity block --block four -o "$T/x.slim"
expect 2 "--block sets the size of a block: use it with --granularity block" "$B" prune models/cnn.arch --target 0.5 --block 4 -o "$T/x.slim"
expect 2 "--taylor-batches expects an integer in \[1, 100000\]" "$B" prune models/cnn.arch --target 0.5 --criterion taylor --taylor-batches 0 -o "$T/x.slim"
expect 2 "use it with --criterion taylor" "$B" prune models/cnn.arch --target 0.5 --taylor-batches 4 -o "$T/x.slim"
expect 2 "--criterion bn ranks channels: use it with --granularity filter or neuron" "$B" prune models/cnn.arch --target 0.5 --granularity block --criterion bn -o "$T/x.slim"
expect 2 "--criterion: unknown value 'hessian'" "$B" prune models/cnn.arch --target 0.5 --criterion hessian -o "$T/x.slim"
expect 2 "--granularity: unknown value 'neurons'" "$B" prune models/cnn.arch --target 0.5 --granularity neurons -o "$T/x.slim"
expect 1 "fashion-mnist-missing" "$B" prune models/cnn.arch --target 0.5 --criterion taylor --data "$T/fashion-mnist-missing" -o "$T/x.slim"
[ ! -e "$T/x.slim" ] && ok || bad "a failed prune left an output file"

# the neuron groups: fc1's 256 units, read by fc2; filter pruning does not list them
expect 0 "group 3: 256 channels, prunable" "$B" prune models/cnn.arch --granularity neuron --show-groups
expect 0 "made by +fc1" "$B" prune models/cnn.arch --granularity neuron --show-groups
out=$("$B" prune models/cnn.arch --granularity filter --show-groups 2>&1)
echo "$out" | grep -q "made by +fc1" && bad "filter --show-groups lists the Linear neurons" || ok

# a small trained model
"$B" train models/cnn.arch --epochs 1 --limit 600 --quiet -o "$T/m.slim" >/dev/null 2>&1 || bad "training the test model failed"

# neurons: fc1 loses half of its 256 units (fc2, the classifier, keeps its 10), a smaller dense model
expect 0 "saved .*n.slim" "$B" prune "$T/m.slim" --granularity neuron --target 0.5 --steps 2 --finetune-epochs 0 --limit 300 --quiet -o "$T/n.slim"
expect 0 "Linear-[0-9]+ +\[-1, 128\] +401,536" "$B" summary "$T/n.slim"
expect 0 "Linear-[0-9]+ +\[-1, 10\] +1,290" "$B" summary "$T/n.slim"
expect 0 "^ +2 +50\.0% +50\.0%" "$B" prune "$T/m.slim" --granularity neuron --scope global --target 0.5 --steps 2 --finetune-epochs 0 --limit 300 --quiet -o "$T/ng.slim"

# blocks: the report's sparsity is the fraction of 4x1 blocks, exact; the file shrinks
"$B" prune "$T/m.slim" --granularity block --target 0.8 --steps 2 --finetune-epochs 0 --limit 300 --json -o "$T/b.slim" >"$T/b.json" 2>"$T/b.err"
grep -q '"granularity": "block", "block": 4, ' "$T/b.json" && ok || bad "--json lacks the block size: $(head -c 300 "$T/b.json")"
# round(0.8 * (16 * 288 + 64 * 3136)) = 164,250 of 205,312 blocks: 0.8000019
[ "$(after_get "$T/b.json" sparsity)" = "0.800002" ] && ok || bad "block sparsity $(after_get "$T/b.json" sparsity), expected 0.800002"
if command -v python3 >/dev/null; then python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$T/b.json" && ok || bad "--json is not valid JSON"; fi
"$B" summary "$T/b.slim" --json >"$T/bs.json" 2>&1
# conv1 (288) and fc2 (2,570) stay dense; of conv2 and fc1 (821,248) 20 % of the blocks survive
nz=$(json_get "$T/bs.json" nonzero_params)
[ -n "$nz" ] && [ "$nz" -le $((288 + 2570 + 64 + 128 + 256 + 10 + 821248 / 5 + 4)) ] && ok || bad "block pruning left $nz non-zero"
expect 0 "pruning .*: block granularity \(2 output channels a block\)" "$B" prune "$T/m.slim" --granularity block --block 2 --target 0.5 --steps 1 --finetune-epochs 0 --limit 200 --quiet -o "$T/b2.slim"
# fine-tuning keeps the blocks pruned (the masks are in the file)
expect 0 "^ +1 +60\.0% +60\.0%" "$B" prune "$T/m.slim" --granularity block --target 0.6 --steps 1 --finetune-epochs 1 --limit 300 --quiet -o "$T/bf.slim"

# taylor: weights, blocks, filters and neurons; deterministic for a seed
"$B" prune "$T/m.slim" --criterion taylor --taylor-batches 3 --target 0.5 --steps 1 --finetune-epochs 0 --limit 300 --json -o "$T/tj.slim" >"$T/tj.json" 2>&1
grep -q '"criterion": "taylor", "taylor_batches": 3, ' "$T/tj.json" && ok || bad "--json lacks the taylor batches: $(head -c 300 "$T/tj.json")"
for g in weight block channel neuron; do
	expect 0 "saved .*t-$g.slim" "$B" prune "$T/m.slim" --granularity $g --criterion taylor --taylor-batches 2 --batch 64 --target 0.5 --steps 1 --finetune-epochs 0 --limit 300 --quiet -o "$T/t-$g.slim"
done
"$B" prune "$T/m.slim" --granularity neuron --criterion taylor --taylor-batches 2 --target 0.4 --steps 1 --finetune-epochs 0 --limit 300 --quiet -o "$T/ta.slim" >/dev/null 2>&1
"$B" prune "$T/m.slim" --granularity neuron --criterion taylor --taylor-batches 2 --target 0.4 --steps 1 --finetune-epochs 0 --limit 300 --quiet -o "$T/tb.slim" >/dev/null 2>&1
cmp -s "$T/ta.slim" "$T/tb.slim" && ok || bad "two taylor runs with the same seed wrote different models"
"$B" prune "$T/m.slim" --granularity neuron --criterion l1 --target 0.4 --steps 1 --finetune-epochs 0 --limit 300 --quiet -o "$T/tl.slim" >/dev/null 2>&1
cmp -s "$T/ta.slim" "$T/tl.slim" && bad "taylor chose the same neurons as l1 (scores not used?)" || ok

finish
