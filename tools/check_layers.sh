#!/bin/bash
# The include-layer check (docs/architecture.md): every #include "..." in src/, cli/ and include/
# must stay in its own folder or point down the layer order below; headers named *_internal.h
# are private to their folder; kernels know nothing of graphs (no slimnn.h); the public header
# includes nothing of the library. Prints each violation as FILE:LINE: what and why, then the
# closing "N passed, N failed" line (one check per include; tests/run.sh adds it up).
# The same order holds for calls: --symbols BUILD reads the objects of src/ in BUILD with nm and
# fails on a call into a higher or sibling folder, which the public header (every layer above
# kernels includes it) would otherwise let through unseen. The one call up is the graph running
# the operators through their table (UP_CALLS).
# Usage: tools/check_layers.sh [ROOT]         includes of the tree at ROOT (default: this checkout)
#        tools/check_layers.sh --symbols BUILD  calls between the objects of BUILD/src (after make)
#        tools/check_layers.sh --self-test      plant violations of both kinds in a scratch tree
#                                               and make sure each is reported (the check can fail)
set -u

# Layer of each folder: a folder may include its own headers and those of lower layers; folders
# of one layer do not include each other. Change it together with docs/architecture.md.
declare -A LAYER=([kernels]=0 [core]=1 [ops]=2 [dist]=2 [passes]=3 [analyze]=3 [io]=4 [onnx]=5 [data]=5 [codegen]=5 [load]=6
                  [train]=7 [lighten]=8 [prune]=8 [quantize]=8 [cli]=9)
ORDER="kernels core ops dist passes analyze io onnx data codegen load train lighten prune quantize"   # for messages

# Calls up the order that are the design: src/core runs the operators of src/ops through the
# operator table (core/graph.c: sn_op_get(op)->run, and the PyTorch names in its messages).
UP_CALLS=" core->ops:sn_op_get core->ops:sn_node_torch "

# What a folder of layer n may include, for messages.
allowed() {
	local d out="its own folder"
	for d in $ORDER; do
		[ "${LAYER[$d]}" -lt "$1" ] && out+=", $d/"
	done
	echo "$out"
}

check_tree() {
	local root=$1 pass=0 fail=0 f from n line inc dir base
	cd "$root" || { echo "no tree at $root"; return 2; }
	while IFS= read -r f; do
		case $f in
		src/*/*) from=${f#src/}; from=${from%%/*} ;;
		cli/*) from=cli ;;
		include/*) from=include ;;
		*) continue ;;
		esac
		if [ "$from" != include ] && [ -z "${LAYER[$from]+x}" ]; then
			echo "$f: src/$from has no layer: add it to tools/check_layers.sh and docs/architecture.md"
			fail=$((fail + 1))
			continue
		fi
		while IFS=: read -r n line; do
			inc=${line#*\"}; inc=${inc%%\"*}
			dir=${inc%%/*}; base=${inc##*/}
			local why=
			if [ "$from" = include ]; then
				why="the public header includes nothing of the library: it is installed alone"
			elif [ "$inc" = slimnn.h ]; then
				[ "$from" = kernels ] && why="kernels know nothing of graphs: only kernels/ headers, no slimnn.h"
			elif [ "$dir" = "$inc" ]; then   # no folder: a header beside the file, or the generated ONNX one
				[ -e "$(dirname "$f")/$inc" ] || { [ "$inc" = onnx.pb-c.h ] && [ "$from" = onnx ]; } ||
					why="no such header beside the file (name the folder: \"core/internal.h\")"
			elif [ "$dir" = "$from" ]; then
				:
			elif [ -z "${LAYER[$dir]+x}" ] || [ "$dir" = cli ]; then
				why="src/$dir is not a folder of the layer order"
			elif [[ $base == *_internal.h ]]; then
				why="private to src/$dir (headers named *_internal.h stay in their folder)"
			elif [ "${LAYER[$dir]}" -gt "${LAYER[$from]}" ]; then
				why="upward: $from (layer ${LAYER[$from]}) may include only $(allowed "${LAYER[$from]}")"
			elif [ "${LAYER[$dir]}" -eq "${LAYER[$from]}" ]; then
				why="sideways: $from and $dir share layer ${LAYER[$from]} and do not include each other"
			fi
			if [ -n "$why" ]; then
				echo "$f:$n: #include \"$inc\": $why"
				fail=$((fail + 1))
			else
				pass=$((pass + 1))
			fi
		done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f")
	done < <(find src cli include -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null | LC_ALL=C sort)
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}

# Every undefined symbol of an object of src/F that another folder's object defines must come
# from F's layer order: one check per (object, symbol). Objects are those of the current sources
# (a build folder keeps objects of removed files).
check_symbols() {
	local build=$1 f o objs=() missing=0 layers= d
	for f in src/*/*.c; do
		o=$build/${f%.c}.o
		if [ -e "$o" ]; then objs+=("$o"); else echo "$o: missing: build first (make)"; missing=$((missing + 1)); fi
	done
	for d in $ORDER; do layers+="$d=${LAYER[$d]} "; done
	# nm -A prefixes each line with its object; the defined symbols first, then the undefined ones
	{ nm -A -g --defined-only "${objs[@]}" | sed 's/^/D /'; nm -A -u "${objs[@]}" | sed 's/^/U /'; } |
	awk -v build="$build/" -v layers="$layers" -v up="$UP_CALLS" -v missing="$missing" '
		function folder(obj) { sub("^" build "src/", "", obj); sub("/.*", "", obj); return obj }
		function allowed(n,   i, out) {
			out = "its own folder"
			for (i = 1; i <= nd; i++) if (rank[name[i]] < n) out = out ", " name[i] "/"
			return out
		}
		BEGIN { nd = split(layers, kv, " "); for (i = 1; i <= nd; i++) { split(kv[i], p, "="); name[i] = p[1]; rank[p[1]] = p[2] } }
		$1 == "D" { split($2, a, ":"); def[$NF] = folder(a[1]); next }
		{
			split($2, a, ":"); obj = a[1]; from = folder(obj); sym = $NF; to = def[sym]
			if (to == "" || to == from) next
			if (!(from in rank)) { print obj ": src/" from " has no layer"; fail++; next }
			if ((to in rank && rank[to] < rank[from]) || index(up, " " from "->" to ":" sym " ")) { pass++; next }
			o = obj; sub("^" build, "", o)
			print o ": calls " sym " of src/" to ": " from " (layer " rank[from] ") may call only " allowed(rank[from])
			fail++
		}
		END { printf "%d passed, %d failed\n", pass, fail + missing; exit (fail + missing) > 0 }'
}

# A scratch tree with one violation of each kind (and allowed includes beside them): each must be
# reported at its line, and nothing else.
self_test() {
	local t pass=0 fail=0 out want
	t=$(mktemp -d /tmp/slimnn-layers-XXXXXX)
	trap 'rm -rf "$t"' RETURN
	mkdir -p "$t"/src/{kernels,core,onnx,data,train,prune,extra} "$t"/cli "$t"/include
	touch "$t"/src/kernels/cpu.h "$t"/src/core/internal.h "$t"/src/train/train.h "$t"/src/train/train_internal.h \
		"$t"/src/onnx/onnx.h "$t"/cli/cli.h
	printf '#include "kernels/cpu.h"\n#include "core/internal.h"\n#include "slimnn.h"\n' >"$t"/src/kernels/k.c
	printf '#include "slimnn.h"\n#include "kernels/cpu.h"\n#include "train/train.h"\n' >"$t"/src/core/g.c
	printf '#include "train/train.h"\n#include "train/train_internal.h"\n' >"$t"/src/prune/p.c
	printf '#include "core/internal.h"\n#include "onnx/onnx.h"\n' >"$t"/src/data/d.c
	printf '#include "onnx.pb-c.h"\n' >"$t"/src/onnx/o.c
	printf '#include "onnx.pb-c.h"\n#include "core/internal.h"\n' >"$t"/src/train/t.c
	printf '#include "core/internal.h"\n' >"$t"/src/extra/x.c
	printf '#include "cli.h"\n#include "train/train.h"\n#include "sparse/spmm.h"\n' >"$t"/cli/main.c
	printf '#include <stdio.h>\n#include "core/internal.h"\n' >"$t"/include/slimnn.h
	out=$(check_tree "$t")
	for want in 'src/kernels/k.c:2: #include "core/internal.h": upward: kernels (layer 0) may include only its own folder' \
		'src/kernels/k.c:3: #include "slimnn.h": kernels know nothing of graphs' \
		'src/core/g.c:3: #include "train/train.h": upward: core (layer 1) may include only its own folder, kernels/' \
		'src/prune/p.c:2: #include "train/train_internal.h": private to src/train' \
		'src/data/d.c:2: #include "onnx/onnx.h": sideways: data and onnx share layer 5' \
		'src/train/t.c:1: #include "onnx.pb-c.h": no such header beside the file' \
		'src/extra/x.c: src/extra has no layer' \
		'cli/main.c:3: #include "sparse/spmm.h": src/sparse is not a folder of the layer order' \
		'include/slimnn.h:2: #include "core/internal.h": the public header includes nothing of the library' \
		'9 passed, 9 failed'; do
		if grep -qF -- "$want" <<<"$out"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "not reported: $want"; fi
	done
	[ "$(grep -c '' <<<"$out")" -eq 10 ] && [ "$(tail -n 1 <<<"$out")" = "9 passed, 9 failed" ] && pass=$((pass + 1)) ||
		{ fail=$((fail + 1)); echo "expected 9 violations and the closing line, got:"; echo "$out"; }
	# calls: io calls down into core (allowed) and up into train (not); core calls the operator table
	rm -rf "$t"/src/*
	mkdir -p "$t"/src/{core,ops,io,train} "$t"/b/src/{core,ops,io,train}
	printf 'int sn_err(void) { return 1; }\nint sn_op_get(void);\nint run(void) { return sn_op_get(); }\n' >"$t"/src/core/e.c
	printf 'int sn_op_get(void) { return 2; }\n' >"$t"/src/ops/r.c
	printf 'int sn_err(void);\nint sn_train_step(void);\nint save(void) { return sn_err() + sn_train_step(); }\n' >"$t"/src/io/s.c
	printf 'int sn_train_step(void) { return 3; }\n' >"$t"/src/train/t.c
	for f in core/e ops/r io/s train/t; do cc -c -o "$t/b/src/$f.o" "$t/src/$f.c" || echo "cannot compile $f.c"; done
	out=$(cd "$t" && check_symbols b)
	for want in 'src/io/s.o: calls sn_train_step of src/train: io (layer 4) may call only its own folder' '2 passed, 1 failed'; do
		if grep -qF -- "$want" <<<"$out"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "not reported: $want"; fi
	done
	[ "$(grep -c '' <<<"$out")" -eq 2 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "expected 1 violation, got:"; echo "$out"; }
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}

case ${1:-} in
--self-test) self_test ;;
--symbols) cd "$(dirname "$0")/.." && check_symbols "${2:-build}" ;;
*) check_tree "${1:-$(dirname "$0")/..}" ;;
esac
