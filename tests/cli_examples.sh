#!/bin/bash
# The public API as a user meets it: examples/*.c and the tour at the top of include/slimnn.h,
# built with nothing but the installed header and library. `make install` into a temporary
# prefix, each program compiled through pkg-config exactly as the examples' own comments say,
# then run on a few Fashion-MNIST images: train and save, infer, prune, lighten.
# With the ASan+UBSan binary (tests/run.sh runs every cli_*.sh with both builds) the programs are
# built from the same sources against that build's libslimnn.a with the sanitizers instead, so
# leaks and undefined behaviour in the examples' own code show too.
# Usage: tests/cli_examples.sh path/to/slimnn
B=${1:-./build/slimnn}
. "$(dirname "$0")/cli-lib.sh"
BUILD=$(dirname "$B")
mkdir -p "$T/bin"
SAN=
if [ "$BUILD" = "./build" ] || [ "$BUILD" = "build" ]; then
	P=$T/prefix
	if make -s install PREFIX="$P" >"$T/install.log" 2>&1; then ok; else bad "make install PREFIX=$P: $(tail -n 3 "$T/install.log")"; fi
	export PKG_CONFIG_PATH=$P/lib/pkgconfig LD_LIBRARY_PATH=$P/lib
	build() { cc -std=c11 -Wall -Wextra -Werror -o "$2" "$1" $(pkg-config --cflags --libs slimnn); }
else
	SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
	LIBS=$(sed -n 's/^Libs.private: //p' tools/slimnn.pc.in)
	# -I to a copy of the public header alone: an example that reached for src/ would not build
	mkdir -p "$T/include" && cp include/slimnn.h "$T/include/"
	build() { cc -std=c11 -Wall -Wextra -Werror $SAN -I"$T/include" -o "$2" "$1" "$BUILD/libslimnn.a" $LIBS; }
fi

# every example builds
for e in examples/*.c; do
	n=$(basename "$e" .c)
	if build "$e" "$T/bin/$n" >"$T/build-$n.log" 2>&1; then ok; else bad "$e does not build: $(head -c 400 "$T/build-$n.log")"; fi
done
[ "$(ls examples/*.c | wc -l)" -ge 4 ] && ok || bad "fewer than 4 examples"

# the tour at the top of slimnn.h: its indented lines, from the '---' under the title to the
# first blank comment line, are a function body that must compile and link
awk '/^ \* -+$/ { on = 1; next } on && /^ \*$/ { exit } on { sub(/^ \* */, ""); print }' include/slimnn.h >"$T/tour.inc"
{ echo '#include <slimnn.h>'; echo 'int main(void) {'; cat "$T/tour.inc"; echo 'return 0; }'; } >"$T/tour.c"
[ "$(grep -c 'sn_' "$T/tour.inc")" -ge 8 ] && ok || bad "the tour in slimnn.h was not found ($(wc -l <"$T/tour.inc") lines)"
if build "$T/tour.c" "$T/bin/tour" >"$T/build-tour.log" 2>&1; then ok; else bad "the tour in slimnn.h does not compile: $(head -c 400 "$T/build-tour.log")"; fi

# train and save: the network built from text, then a given architecture file
expect 0 "saved $T/m.slim: .* test accuracy [1-9][0-9]\.[0-9]+ %" "$T/bin/train_and_save" "$T/m.slim"
printf 'input x shape=1x28x28\nflatten f\nlinear fc out=10\n' >"$T/linear.arch"
expect 0 "epoch  1/1.*
saved $T/lin.slim: 7850 parameters" "$T/bin/train_and_save" "$T/lin.slim" "$T/linear.arch" "$DATA"
expect 1 "train_and_save: architecture: .*nope.arch" "$T/bin/train_and_save" "$T/x.slim" "$T/nope.arch"
expect 1 "train_and_save: data: .*/nonexistent" "$T/bin/train_and_save" "$T/x.slim" models/cnn.arch /nonexistent
[ ! -e "$T/x.slim" ] && ok || bad "a failed run left a model file"
expect 0 "\"test_accuracy\": 0\.[1-9]" "$B" summary "$T/m.slim" --json

# infer: an image (gray, resized from 37x23), three samples of a float32 .npy, a bad input
expect 0 "sample 0.*
  1\. (T-shirt/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot) +score" \
	"$T/bin/infer" "$T/m.slim" tests/fixtures/images/gray8.png
h="{'descr': '<f4', 'fortran_order': False, 'shape': (3, 1, 28, 28), }"
printf '\x93NUMPY\x01\x00\x76\x00%-117s\n' "$h" >"$T/x.npy" && head -c $((3 * 784 * 4)) /dev/zero >>"$T/x.npy"
expect 0 "sample 2
  1\..*
  2\..*
  3\..*
  4\." "$T/bin/infer" "$T/m.slim" "$T/x.npy" 4
expect 1 "infer: input: .*missing.png" "$T/bin/infer" "$T/m.slim" "$T/missing.png"

# prune: half the weights of the prunable layers; the file records them (summary counts them)
expect 0 "pruned [0-9]+ of [0-9]+ weights \(50\.0 %\): accuracy [0-9.]+ % -> [0-9.]+ % on 1000 test images" \
	"$T/bin/prune" "$T/m.slim" "$T/p.slim" 0.5
nz=$("$B" summary "$T/p.slim" --json 2>/dev/null | grep -o '"nonzero_params": [0-9]*' | grep -o '[0-9]*$')
all=$("$B" summary "$T/p.slim" --json 2>/dev/null | grep -o '"total_params": [0-9]*' | grep -o '[0-9]*$')
[ -n "$nz" ] && [ -n "$all" ] && [ "$nz" -lt "$all" ] && ok || bad "the pruned model has no zero weights (nonzero '$nz' of '$all')"
expect 1 "prune: pruning: " "$T/bin/prune" "$T/m.slim" "$T/x.slim" 1.5

# lighten: conv c2 becomes depthwise + pointwise, the flatten -> Linear head a pooled one
expect 0 "c2 +dsc .*
.*fc +gap-head .*
.*params [0-9]+ -> [0-9]+, mult-adds .* distilled [1-9][0-9]\.[0-9]+ %" "$T/bin/lighten" "$T/m.slim" "$T/l.slim"
expect 0 "Total params" "$B" summary "$T/l.slim"
finish
