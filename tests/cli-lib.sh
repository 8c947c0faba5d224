# Shared by the command-line test scripts (tests/cli*.sh), which source it after setting B, the
# slimnn binary under test. Gives: T (a temporary folder, removed on exit), DATA, ok, bad,
# expect, and finish (prints the closing "N passed, N failed" line and sets the exit status).
DATA=/usr/share/datasets/fashion-mnist
T=$(mktemp -d /tmp/slimnn-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
# expect RC PATTERN CMD...: exit status RC and output (stdout+stderr) matching PATTERN
expect() {
	local rc=$1 pat=$2; shift 2
	local out; out=$("$@" 2>&1); local got=$?
	if [ "$got" -ne "$rc" ]; then bad "$* -> exit $got, expected $rc: $(echo "$out" | tail -n 2)"; return; fi
	if ! echo "$out" | grep -Eq -- "$pat"; then bad "$* -> output lacks /$pat/: $(echo "$out" | tail -n 2)"; return; fi
	ok
}
finish() {
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
