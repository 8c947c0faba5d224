#!/bin/bash
# The Cortex-M4 proof of `slimnn export --format c` (tests/mcu/run.sh: float dense, float sparse
# and int8 models built with arm-none-eabi-gcc and run in qemu-system-arm's mps2-an386), or a
# skip line where the cross compiler, newlib or QEMU is missing (CI installs them). tests/run.sh
# runs it; run it alone the same way.
# Usage: tests/mcu_qemu_cortex_m4.sh path/to/slimnn
B=${1:-./build/slimnn}
if command -v arm-none-eabi-gcc >/dev/null && command -v qemu-system-arm >/dev/null &&
	echo '#include <math.h>' | arm-none-eabi-gcc -x c -c - -o /dev/null 2>/dev/null; then
	exec bash "$(dirname "$0")/mcu/run.sh" "$B"
fi
echo "== skipped: no Cortex-M4 toolchain (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)"
echo "0 passed, 0 failed"
