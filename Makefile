# slimnn — `make` builds build/slimnn, `make test` runs the suite (plain and ASan+UBSan),
# `make demo` installs missing Debian packages (as root), builds and runs the main job.
PREFIX   ?= /usr/local
VERSION  := 0.1.0
SOVERSION := 0
CC       ?= gcc
OPT      ?= -O3 -march=native
CFLAGS   ?= $(OPT) -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -fopenmp -fPIC -Iinclude -Isrc
LDLIBS   := -ldnnl -lopenblas -llapacke -lz -lm -lprotobuf-c -lpng -ljpeg -lzip -lpthread
DEPS_DEB := build-essential libopenblas-dev liblapacke-dev zlib1g-dev dataset-fashion-mnist \
            libprotobuf-c-dev protobuf-c-compiler libonnx-dev libpng-dev libjpeg62-turbo-dev libzip-dev libdnnl-dev

LIB_SRC  := $(sort $(wildcard src/*/*.c))
CLI_SRC  := $(sort $(wildcard cli/*.c))
TEST_SRC := $(sort $(wildcard tests/*.c))

B  := build
BA := build-asan
# make MPI=1: data-parallel training across processes with Open MPI (Debian libopenmpi-dev,
# openmpi-bin), built with mpicc into its own tree; the default build has no MPI at all.
ifeq ($(MPI),1)
CC := mpicc
CFLAGS += -DSN_MPI
B  := build-mpi
BA := build-mpi-asan
endif
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(B)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(B)/%.o)

# ONNX (src/onnx): protoc-c turns Debian's onnx.proto (libonnx-dev) into C at build time, into
# $(B)/gen; the generated code is compiled into the library and never committed. Only the
# sources in src/onnx include it, so only they get -I$(B)/gen and wait for the header.
ONNX_PROTO := /usr/include/onnx/onnx.proto
ONNX_OBJ := $(filter $(B)/src/onnx/%,$(LIB_OBJ))
LIB_OBJ  += $(B)/gen/onnx.pb-c.o
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

all: $(B)/slimnn $(B)/libslimnn.a $(B)/libslimnn.so

$(B)/%.o: %.c $(wildcard include/*.h src/*/*.h cli/*.h tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/gen/onnx.pb-c.c $(B)/gen/onnx.pb-c.h &: $(ONNX_PROTO)
	@mkdir -p $(B)/gen
	protoc-c --proto_path=$(dir $(ONNX_PROTO)) --c_out=$(B)/gen $(ONNX_PROTO)
$(B)/gen/onnx.pb-c.o: $(B)/gen/onnx.pb-c.c
	$(CC) $(CFLAGS) -I$(B)/gen -c $< -o $@
$(ONNX_OBJ): $(B)/gen/onnx.pb-c.h
$(ONNX_OBJ): CFLAGS += -I$(B)/gen

# made anew: `ar r` would keep the members of objects whose sources were moved or removed
$(B)/libslimnn.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^
$(B)/libslimnn.so: $(LIB_OBJ)
	$(CC) $(LDSAN) -shared -fopenmp -Wl,-soname,libslimnn.so.$(SOVERSION) -o $@ $^ $(LDLIBS)
$(B)/slimnn: $(CLI_OBJ) $(B)/libslimnn.a
	$(CC) $(LDSAN) -fopenmp -o $@ $(CLI_OBJ) $(B)/libslimnn.a $(LDLIBS)
$(B)/slimnn_tests: $(TEST_OBJ) $(B)/libslimnn.a
	$(CC) $(LDSAN) -fopenmp -o $@ $(TEST_OBJ) $(B)/libslimnn.a $(LDLIBS)

# The sanitizer build lives in its own tree so both can coexist.
asan:
	$(MAKE) B=$(BA) OPT="-O1 $(SAN)" LDSAN="$(SAN)" $(BA)/slimnn $(BA)/slimnn_tests

# tests/mpi.sh runs where Open MPI is installed: the MPI build of the tool, and model_diff, which
# compares the weights that several processes trained with one process's
HAVE_MPI := $(shell command -v mpicc >/dev/null 2>&1 && command -v mpirun >/dev/null 2>&1 && echo 1)
$(B)/model_diff: tests/tools/model_diff.c $(B)/libslimnn.a
	$(CC) $(CFLAGS) -o $@ $< $(B)/libslimnn.a $(LDLIBS)
mpi:
	$(MAKE) MPI=1 build-mpi/slimnn
	$(MAKE) $(B)/model_diff

test: all $(B)/slimnn_tests asan $(if $(HAVE_MPI),mpi)
	@bash tests/run.sh

demo: deps all
	@bash tools/demo.sh

deps:
	@bash tools/deps.sh $(DEPS_DEB)

# bench/: programs that time slimnn (compared with PyTorch by bench/run.sh; see bench/README.md)
BENCH_BIN := $(B)/bench_kernels $(B)/sgemm_peak $(B)/bench_decode $(B)/bench_onednn
$(B)/bench/kernels.o $(B)/bench/sgemm_peak.o $(B)/bench/decode.o $(B)/bench/onednn_conv.o: bench/timing.h
$(B)/bench_kernels: $(B)/bench/kernels.o $(B)/libslimnn.a
	$(CC) $(LDSAN) -fopenmp -o $@ $< $(B)/libslimnn.a $(LDLIBS)
$(B)/sgemm_peak: $(B)/bench/sgemm_peak.o
	$(CC) $(LDSAN) -o $@ $< -lopenblas
$(B)/bench_onednn: $(B)/bench/onednn_conv.o $(B)/libslimnn.a
	$(CC) $(LDSAN) -fopenmp -o $@ $< $(B)/libslimnn.a $(LDLIBS)
$(B)/bench_decode: $(B)/bench/decode.o $(B)/libslimnn.a
	$(CC) $(LDSAN) -fopenmp -o $@ $< $(B)/libslimnn.a $(LDLIBS)

bench: all $(BENCH_BIN)
	@bash bench/run.sh --build $(B)

# libFuzzer targets (tests/fuzz, docs/onnx.md): the ONNX importer, the .slim reader, the image decoders, the
# NumPy and CIFAR readers and the architecture parser, each from memory, built with clang, ASan and UBSan
# into $(FB) with a seed corpus from the fixtures. Run one: $(FB)/fuzz_onnx $(FB)/corpus-onnx -max_total_time=300
FB         := $(B)/fuzz
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_OPT   := -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link -Wno-pass-failed -DSN_SANITIZE
# The library's sub-make gets this make's jobserver under -jN; a plain `make fuzz` builds on every core.
FUZZ_JOBS  = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc))
FUZZ_BIN   := $(FB)/fuzz_onnx $(FB)/fuzz_slim $(FB)/fuzz_arch $(FB)/fuzz_image $(FB)/fuzz_npy $(FB)/fuzz_cifar
fuzz: $(FUZZ_BIN) $(FB)/corpus-onnx $(FB)/corpus-slim $(FB)/corpus-arch $(FB)/corpus-image $(FB)/corpus-npy $(FB)/corpus-cifar
$(FB)/lib/libslimnn.a: FORCE   # the sub-make knows what is out of date
	$(MAKE) $(FUZZ_JOBS) B=$(FB)/lib CC=clang OPT="$(FUZZ_OPT)" $@
FORCE:
$(FB)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FB)/lib/libslimnn.a
	clang -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer -fopenmp -Iinclude -Isrc -o $@ $< $(FB)/lib/libslimnn.a $(LDLIBS)
$(FB)/corpus-onnx: $(wildcard tests/fixtures/onnx/*/*.onnx tests/fixtures/onnx/qdq/bad/*.onnx)
	@mkdir -p $@
	for f in $^; do cp $$f $@/$$(echo $$f | tr / _); done
$(FB)/corpus-arch: $(wildcard models/*.arch models/seed/*.arch tests/fixtures/ops/*/model.arch)
	@mkdir -p $@
	for f in $^; do cp $$f $@/$$(echo $$f | tr / _); done
$(FB)/corpus-image: $(wildcard tests/fixtures/images/*.*)
	@mkdir -p $@
	for f in $^; do cp $$f $@/$$(echo $$f | tr / _); done
$(FB)/corpus-npy: $(wildcard tests/fixtures/arrays/*.npy tests/fixtures/arrays/*.npz)
	@mkdir -p $@
	for f in $^; do cp $$f $@/$$(echo $$f | tr / _); done
$(FB)/corpus-cifar: $(wildcard tests/fixtures/arrays/*/*.bin)
	@mkdir -p $@
	for f in $^; do cp $$f $@/$$(echo $$f | tr / _); done
$(FB)/corpus-slim: $(B)/slimnn_seeds $(wildcard models/*.arch models/seed/*.arch)
	@mkdir -p $@
	$(B)/slimnn_seeds $@ models/cnn.arch models/cnn-dsc.arch models/resnet.arch models/mobilenetv2.arch \
		models/mobilenetv3.arch models/shufflenetv2.arch models/inception.arch models/seed/separable.arch
$(B)/slimnn_seeds: tests/fuzz/make_seeds.c $(B)/libslimnn.a
	$(CC) $(CFLAGS) -o $@ $< $(B)/libslimnn.a $(LDLIBS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(B)/slimnn $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(B)/libslimnn.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/libslimnn.so $(DESTDIR)$(PREFIX)/lib/libslimnn.so.$(VERSION)
	ln -sf libslimnn.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libslimnn.so.$(SOVERSION)
	ln -sf libslimnn.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libslimnn.so
	install -m 644 include/slimnn.h $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' tools/slimnn.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/slimnn.pc

clean:
	rm -rf $(B) $(BA) build-mpi

.PHONY: mpi all asan test demo deps bench install clean fuzz FORCE
