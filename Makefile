# slimnn — `make` builds build/slimnn, `make test` runs the suite (plain and ASan+UBSan),
# `make demo` installs missing Debian packages (as root), builds and runs the main job.
PREFIX   ?= /usr/local
VERSION  := 0.1.0
SOVERSION := 0
CC       ?= gcc
OPT      ?= -O3 -march=native
CFLAGS   ?= $(OPT) -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -fopenmp -fPIC -Iinclude -Isrc
LDLIBS   := -lopenblas -llapacke -lz -lm -lprotobuf-c
DEPS_DEB := build-essential libopenblas-dev liblapacke-dev zlib1g-dev dataset-fashion-mnist \
            libprotobuf-c-dev protobuf-c-compiler libonnx-dev

LIB_SRC  := $(sort $(wildcard src/*/*.c))
CLI_SRC  := $(sort $(wildcard cli/*.c))
TEST_SRC := $(sort $(wildcard tests/*.c))

B  := build
BA := build-asan
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

$(B)/libslimnn.a: $(LIB_OBJ)
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

test: all $(B)/slimnn_tests asan
	@bash tests/run.sh

demo: deps all
	@bash tools/demo.sh

deps:
	@bash tools/deps.sh $(DEPS_DEB)

bench: all
	@bash bench/run.sh

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
	rm -rf $(B) $(BA)

.PHONY: all asan test demo deps bench install clean
