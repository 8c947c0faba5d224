#!/bin/bash
# Command-line tests of --data on the user's own data (tests/fixtures/data, written by
# tools/gen_data_fixtures.py): image folders, NumPy arrays, validation splits, class names in
# eval and infer, bad data. Usage: tests/cli_data.sh path/to/slimnn
B=${1:-./build/slimnn}
. "$(dirname "$0")/cli-lib.sh"
F=tests/fixtures/data
printf 'input x shape=3x8x8\nconv c1 out=8 k=3 pad=1\nrelu r1\ngap g\nflatten f\nlinear fc out=3\n' >"$T/tiny.arch"

# an image folder: trains, names its classes, ignores and counts the text file
expect 0 "24 train / 9 test images \(image folder, 3 classes\)" "$B" train "$T/tiny.arch" --data "$F/folder" --epochs 1 --batch 8 --lr 0.1 --quiet -o "$T/f.slim"
expect 0 "ignored 1 file without a .png/.jpg/.jpeg name \(first: .*notes.txt\)" "$B" train "$T/tiny.arch" --data "$F/folder" --epochs 0 -o "$T/f0.slim"
expect 0 "^cicada " "$B" eval "$T/f.slim" --data "$F/folder"
expect 0 "top-5 100.00%" "$B" eval "$T/f.slim" --data "$F/folder"
expect 0 '"classes": \["ant", "bee", "cicada"\]' "$B" eval "$T/f.slim" --data "$F/folder" --json
# streamed and cached give the same model
"$B" train "$T/tiny.arch" --data "$F/folder" --epochs 1 --batch 8 --quiet --cache off -o "$T/f2.slim" >/dev/null 2>&1
"$B" train "$T/tiny.arch" --data "$F/folder" --epochs 1 --batch 8 --quiet --cache on --loader-threads 2 -o "$T/f3.slim" >/dev/null 2>&1
cmp -s "$T/f2.slim" "$T/f3.slim" && ok || bad "--cache off and --cache on trained different models"
# infer: top classes by name, for one image and for a folder; the same preprocessing as eval
expect 0 "1\. (ant|bee|cicada) +[0-9.]+%" "$B" infer "$T/f.slim" --input "$F/folder/val/bee/00.jpg" --top 2
expect 0 '"name": "(ant|bee|cicada)", "probability"' "$B" infer "$T/f.slim" --input "$F/folder/val" --json
out=$("$B" infer "$T/f.slim" --input "$F/folder/val" --json 2>/dev/null | grep -o '"file"' | wc -l)
[ "$out" = 9 ] && ok || bad "infer on a folder of 9 images printed $out"
expect 1 "holds no .png, .jpg or .jpeg images" "$B" infer "$T/f.slim" --input "$T"

# NumPy arrays (NHWC, said so); one split needs --val-split
expect 0 "train_x.npy \[24,10,12,3\] uint8 read as NHWC" "$B" eval "$T/f.slim" --data "$F/npy" --resize 8
expect 1 "the model expects inputs \[-1, 3, 8, 8\] but the data set has 3x10x12 images: pass --resize" "$B" eval "$T/f.slim" --data "$F/npy"
expect 1 "has no test split .* --val-split" "$B" train "$T/tiny.arch" --data "$F/single" --epochs 1 -o "$T/x.slim"
expect 0 "19 train / 5 test images" "$B" train "$T/tiny.arch" --data "$F/single" --val-split 0.2 --epochs 1 --batch 8 --quiet -o "$T/s.slim"

# a truncated image: skipped and counted, training goes on
expect 0 "skipped 1 image that did not decode \(first: .*99.png" "$B" train "$T/tiny.arch" --data "$F/broken" --epochs 1 --batch 8 --quiet -o "$T/b.slim"

# bad data and flags: one message, non-zero exit, no output file
expect 1 "data '$T/nothing' not found" "$B" train "$T/tiny.arch" --data "$T/nothing" -o "$T/x.slim"
expect 1 "holds no data set slimnn knows: expected IDX files" "$B" train "$T/tiny.arch" --data "$T" -o "$T/x.slim"
expect 2 "--cache expects auto, on or off" "$B" train "$T/tiny.arch" --data "$F/folder" --cache maybe -o "$T/x.slim"
expect 2 "--val-split expects a number" "$B" train "$T/tiny.arch" --data "$F/folder" --val-split 1.5 -o "$T/x.slim"
expect 1 "--mean gives 2 values but the model has 3 input channels" "$B" eval "$T/f.slim" --data "$F/folder" --mean 0.5,0.5 --std 0.2,0.2
expect 1 "the model has 3 outputs but the data set has 10 classes" "$B" eval "$T/f.slim" --data "$DATA" --resize 8
[ ! -e "$T/x.slim" ] && ok || bad "a refused command left an output file"
finish
