#!/bin/bash
# Data-parallel training under Open MPI (make MPI=1): what one process trains, two processes
# train. Usage: tests/mpi.sh [MPI build of slimnn] [model_diff]. Needs mpirun (openmpi-bin).
M=${1:-./build-mpi/slimnn}
D=${2:-./build/model_diff}
B=$M
. "$(dirname "$0")/cli-lib.sh"
run2() { timeout 300 mpirun --allow-run-as-root --oversubscribe -np 2 "$@"; }

# a model without BatchNorm or Dropout: 2 processes share each step's batch of 128 (64 rows each)
# and take the steps 1 process takes (each process's gradient is the mean over its rows,
# weighted by its share of the step)
printf 'input x shape=1x28x28\nconv c1 out=8 k=3 stride=2 pad=1\nrelu r1\nconv c2 out=16 k=3 stride=2 pad=1\nrelu r2\ngap g\nflatten f\nlinear fc out=10\n' >"$T/tiny.arch"
r="--limit 2000 --epochs 2 --threads 1 --seed 3 --quiet"
expect 0 "saved" "$M" train "$T/tiny.arch" $r --batch 128 -o "$T/one.slim"
expect 0 "batch 128, 1 threads in each of 2 processes" run2 "$M" train "$T/tiny.arch" $r --batch 128 -o "$T/two.slim"
# 2,000 rows: the last step of each epoch has 80: 64 on rank 0, 16 on rank 1
expect 0 "largest relative difference" "$D" "$T/one.slim" "$T/two.slim" 1e-5
# the same 2-process run again: bit for bit
run2 "$M" train "$T/tiny.arch" $r --batch 128 -o "$T/two-again.slim" >/dev/null 2>&1
expect 0 "largest relative difference 0 " "$D" "$T/two.slim" "$T/two-again.slim"
# quantization-aware training: the observers see the whole step's batch (the maxima over the
# processes), so 2 processes train the 1-process model; rounding to the int8 grids lets float
# differences of the gradient sums flip a step, so the weights agree to a grid step (1/127 of the largest)
"$M" quantize "$T/one.slim" --limit 500 --calib 128 --threads 1 -o "$T/q.slim" >/dev/null 2>&1
q="--qat --limit 1000 --epochs 1 --threads 1 --seed 3 --quiet --lr 0.005"
expect 0 "saved .*int8 test accuracy" "$M" train "$T/q.slim" $q -o "$T/q1.slim"
expect 0 "saved .*int8 test accuracy" run2 "$M" train "$T/q.slim" $q -o "$T/q2.slim"
expect 0 "largest relative difference" "$D" "$T/q1.slim" "$T/q2.slim" 0.01
# evaluation split over the processes gives one process's figures
one=$("$M" eval "$T/two.slim" --limit 999 --json 2>&1 | grep -v '"seconds"')
two=$(run2 "$M" eval "$T/two.slim" --limit 999 --json 2>&1 | grep -v '"seconds"')
[ -n "$one" ] && [ "$one" = "$two" ] && ok || bad "eval over 2 processes differs: $one / $two"

# BatchNorm and Dropout (running statistics averaged after each epoch, dropout masks per process):
# 1 epoch, then resumed to 2, is bit-identical to 2 straight epochs
r="--limit 600 --threads 1 --seed 5 --quiet --schedule const --lr 0.02"
run2 "$M" train models/cnn.arch --epochs 2 $r -o "$T/a.slim" >/dev/null 2>&1
run2 "$M" train models/cnn.arch --epochs 1 $r --checkpoint "$T/ck.slim" -o "$T/b1.slim" >/dev/null 2>&1
expect 0 "resuming at epoch 2 of 2" run2 "$M" train --resume "$T/ck.slim" --epochs 2 --quiet -o "$T/b.slim"
expect 0 "largest relative difference 0 " "$D" "$T/a.slim" "$T/b.slim"

# a batch smaller than the number of processes is refused on every process
expect 1 "--batch 1 is shared by 2 processes" run2 "$M" train "$T/tiny.arch" --limit 100 --epochs 1 --batch 1 -o "$T/b1.slim"

# one process that cannot read its data stops the job; rank 0 names it; nothing is written
cat >"$T/rank1-bad.sh" <<EOS
#!/bin/bash
d=$DATA; [ "\$OMPI_COMM_WORLD_RANK" = 1 ] && d=$T/no-such-data
exec "$M" train "$T/tiny.arch" --limit 500 --epochs 1 --quiet --data "\$d" -o "$T/never.slim"
EOS
expect 1 "rank 1: .*no-such-data" run2 bash "$T/rank1-bad.sh"
[ ! -e "$T/never.slim" ] && ok || bad "a failed 2-process run wrote its output"

# a process killed mid-run ends the job with an error; the last checkpoint stays whole
cat >"$T/killable.sh" <<EOS
#!/bin/bash
echo \$\$ >"$T/pid.\$OMPI_COMM_WORLD_RANK"
exec "$M" train models/cnn.arch --limit 3000 --epochs 50 --threads 1 --quiet --checkpoint "$T/kill.ckpt" -o "$T/killed.slim"
EOS
run2 bash "$T/killable.sh" >"$T/kill.log" 2>&1 &
job=$!
for _ in $(seq 600); do [ -e "$T/kill.ckpt" ] && [ -e "$T/pid.1" ] && break; sleep 0.1; done
sleep 0.5
kill -9 "$(cat "$T/pid.1" 2>/dev/null)" 2>/dev/null
wait $job
rc=$?
[ "$rc" -ne 0 ] && ok || bad "killing one process did not end the job with an error"
[ ! -e "$T/killed.slim" ] && ok || bad "the killed job wrote its output"
expect 0 "largest relative difference 0 " "$D" "$T/kill.ckpt" "$T/kill.ckpt"

finish
