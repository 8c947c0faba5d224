#!/bin/bash
# Runs every suite — the C tests (plain build and ASan+UBSan build) and the CLI tests — and
# prints one closing line "N passed, N failed" over all of them.
cd "$(dirname "$0")/.." || exit 2
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
# idle OpenMP threads sleep instead of spinning: suites stay fast when the machine is shared
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
pass=0; fail=0
run() { # NAME CMD...: run a suite, add its "N passed, N failed" line to the totals
	local name=$1; shift
	echo "== $name"
	local out rc
	out=$("$@"); rc=$?
	echo "$out" | tail -n 5
	local line; line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
	if [ -z "$line" ]; then echo "$name: no result line (exit $rc)"; fail=$((fail + 1)); return; fi
	local p f; p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
	pass=$((pass + p)); fail=$((fail + f))
	[ "$rc" -eq 0 ] || [ "$f" -gt 0 ] || { echo "$name: exit $rc"; fail=$((fail + 1)); }
}
# the layer order of docs/architecture.md: the includes, the calls between the objects, and the
# check's self-test (it must report what it is there to catch)
run "include layers" bash tools/check_layers.sh
run "call layers" bash tools/check_layers.sh --symbols build
run "layer check self-test" bash tools/check_layers.sh --self-test
run "unit tests" ./build/slimnn_tests
run "unit tests (ASan+UBSan)" ./build-asan/slimnn_tests
# oneDNN's AVX2 code on this machine too, whatever its vectors (tests/test_conv_dnnl.c checks
# which code ran): users' CPUs go from AVX2 to AVX-512
run "dense convs on oneDNN, capped at AVX2" env ONEDNN_MAX_CPU_ISA=AVX2 ./build/slimnn_tests conv
for t in tests/cli.sh tests/cli_*.sh; do
	[ -e "$t" ] || continue
	run "$t" bash "$t" ./build/slimnn
	run "$t (ASan+UBSan)" bash "$t" ./build-asan/slimnn
done
# data-parallel training over Open MPI, where it is installed (make test then builds build-mpi/)
if [ -x build-mpi/slimnn ] && [ -x build/model_diff ] && command -v mpirun >/dev/null; then
	run "MPI, 2 processes" bash tests/mpi.sh ./build-mpi/slimnn ./build/model_diff
else
	echo "== MPI: skipped (no Open MPI: apt-get install libopenmpi-dev openmpi-bin)"
fi
# the exported C code on a Cortex-M4 in QEMU (tests/mcu), where the cross compiler, newlib and
# qemu-system-arm are installed (CI installs them; a skip line otherwise)
run "C export on a Cortex-M4 (QEMU)" bash tests/mcu_qemu_cortex_m4.sh ./build/slimnn
# torchvision models through ONNX, where Debian's python3-torch and python3-torchvision are
# installed (the bench machine; CI does not install them): outputs and parameter totals
if /usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null; then
	run "torchvision ONNX import" /usr/bin/python3 tools/check_torchvision_onnx.py ./build/slimnn
else
	echo "== torchvision ONNX import: skipped (no python3-torch/torchvision)"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
