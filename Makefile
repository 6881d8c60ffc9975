# griffin — build with `make`, test with `make test`.
#   make PORTABLE=1   builds without -march=native (for a binary that runs on any x86-64/arm64)
#   make test         runs the C test suite twice: optimised, then under ASan + UBSan

CC      ?= cc
BUILD   ?= build
ifeq ($(PORTABLE),1)
ARCH    :=
else
ARCH    := -march=native
endif
OPT     ?= -O3 $(ARCH)
# OpenBLAS: Debian's OpenMP build where it is installed (libopenblas-openmp-dev, which
# tools/install-deps.sh installs), found through its own pkg-config file and run from its
# folder (rpath) whichever build the system's alternatives select: its threads are then the
# same OpenMP team as griffin's loops. With the pthreads build the two pools fought for the
# cores (a training step 25 % slower under OpenMP's default spinning). Elsewhere: pkg-config's.
OPENBLAS_OMP := $(firstword $(wildcard /usr/lib/*/openblas-openmp/pkgconfig/openblas.pc))
ifneq ($(OPENBLAS_OMP),)
BLAS_PC   := PKG_CONFIG_PATH=$(dir $(OPENBLAS_OMP))
BLAS_RPATH := -Wl,-rpath,$(patsubst %/pkgconfig/,%,$(dir $(OPENBLAS_OMP)))
endif
# -fno-trapping-math: griffin never reads the floating-point exception flags,
# and without it GCC will not turn the clamps and signs of the pointwise
# functions (gf_expf, the logits' soft cap) into vector selects on CPUs
# without AVX-512's masks: on AVX2 the soft cap ran one logit at a time. It
# changes no result (no reassociation; that would be -ffast-math).
# -fno-math-errno: griffin never reads errno after a math function, and
# clang will not vectorise a loop that calls sqrtf (AdamW's update) while
# the call may have to set it.
CFLAGS  := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wshadow -Wno-unused-parameter \
           $(OPT) -fno-trapping-math -fno-math-errno -g -fopenmp -Iinclude -Isrc -Ibench $(shell $(BLAS_PC) pkg-config --cflags openblas libcjson 2>/dev/null)
LDLIBS  := $(shell $(BLAS_PC) pkg-config --libs openblas libcjson 2>/dev/null || echo -lopenblas -lcjson) \
           $(BLAS_RPATH) -lm -fopenmp

LIB_SRC  := $(wildcard src/*.c src/model/*.c src/formats/*.c src/generate/*.c src/kernels/*.c src/layers/*.c src/tokenizer/*.c src/train/*.c src/tasks/*.c)
TOOL_SRC := $(wildcard tools/*.c)
# `griffin serve`'s HTTP server (src/serve/): linked into the griffin binary
# only, never into libgriffin.a / .so, so the library does not depend on
# libmicrohttpd.
SERVE_SRC  := $(wildcard src/serve/*.c)
SERVE_LIBS := $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd) -lpthread
# Data-parallel training over MPI (src/dist/): in the griffin binary only, as
# the server. OpenMPI's pkg-config file (Debian's libopenmpi-dev) gives its
# flags to gcc and clang alike; without it `griffin train` runs in one process
# and says so when mpirun starts it.
DIST_SRC   := $(wildcard src/dist/*.c)
MPI_CFLAGS := $(shell pkg-config --cflags ompi-c 2>/dev/null)
MPI_LIBS   := $(shell pkg-config --libs ompi-c 2>/dev/null)
ifeq ($(shell pkg-config --exists ompi-c 2>/dev/null && echo yes),yes)
MPI_CFLAGS += -DGF_HAVE_MPI
endif
TESTS    := test_kernels test_narrow_kernels test_quantize test_golden test_safetensors_io test_model_load test_npy_io test_units test_cli test_reference \
            test_tokenizer_spm test_tokenizer_input test_text_cli test_grad test_train test_tasks test_masks test_generate test_sampling test_extend test_slots test_snapshot_file test_chat test_faults test_threads test_shards

# Run again once per lower kernel set of the CPU (tests/run.sh, GRIFFIN_ISA):
# the tests that run models end to end (the kernel tests check every SIMD
# version the CPU has against its twin at the default set already). Under
# the sanitizers the slowest two (the CLI's training runs, the PyTorch
# reference: 45 s of the 65 s a set takes optimised) run at the default set
# only, which keeps `make test` within CI's time.
PER_SET_TESTS := test_quantize test_golden test_model_load test_units test_cli test_reference test_text_cli \
                 test_grad test_train test_generate test_extend test_slots test_snapshot_file test_chat test_threads
PER_SET_ASAN  := $(filter-out test_cli test_reference,$(PER_SET_TESTS))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o) $(BUILD)/bench/bench_limits.o
SERVE_OBJ := $(SERVE_SRC:%.c=$(BUILD)/%.o)
$(SERVE_OBJ): CFLAGS += $(shell pkg-config --cflags libmicrohttpd 2>/dev/null)
DIST_OBJ  := $(DIST_SRC:%.c=$(BUILD)/%.o)
$(DIST_OBJ): CFLAGS += $(MPI_CFLAGS)
# `griffin chat`'s line editing and history at a terminal: libedit (BSD
# licensed, Debian's libedit-dev), through its readline-compatible calls;
# linked into the griffin binary only.
EDIT_LIBS := $(shell pkg-config --libs libedit 2>/dev/null || echo -ledit)
$(BUILD)/tools/chat_repl.o: CFLAGS += $(shell pkg-config --cflags libedit 2>/dev/null)

# The library's symbols are hidden but for what include/griffin.h and
# include/griffin_train.h declare (their `#pragma GCC visibility push(default)`):
# libgriffin.so exports the public API only. The internal gf_ functions the CLI
# and the tests call still link from libgriffin.a (hidden symbols link
# statically). The shared library is built from its own -fPIC objects
# ($(BUILD)/pic/), so libgriffin.a and the CLI keep their code (the hidden
# visibility leaves it as it was: objdump -d of both unchanged).
VERSION  := 0.1.0
SOMAJOR  := $(firstword $(subst ., ,$(VERSION)))
SONAME   := libgriffin.so.$(SOMAJOR)
SHLIB    := $(BUILD)/libgriffin.so.$(VERSION)
PIC_OBJ  := $(LIB_SRC:%.c=$(BUILD)/pic/%.o)
$(LIB_OBJ) $(PIC_OBJ): CFLAGS += -fvisibility=hidden

.PHONY: all lib test test-fast test-asan tests-built clean demo spm-fixtures
all: $(BUILD)/griffin

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libgriffin.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

# `make lib`: the static and the shared library (libgriffin.so.$(VERSION), soname
# $(SONAME), with the libgriffin.so.$(SOMAJOR) and libgriffin.so links).
lib: $(BUILD)/libgriffin.a $(SHLIB)

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -MMD -MP -c $< -o $@

$(SHLIB): $(PIC_OBJ)
	$(CC) $(CFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined $^ $(LDLIBS) -o $@
	ln -sf $(notdir $@) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $(BUILD)/libgriffin.so

# `griffin --version` prints VERSION; the object is rebuilt when it changes.
$(BUILD)/tools/griffin.o: CFLAGS += -DGRIFFIN_VERSION='"$(VERSION)"'
$(BUILD)/tools/griffin.o: Makefile

$(BUILD)/griffin: $(TOOL_OBJ) $(SERVE_OBJ) $(DIST_OBJ) $(BUILD)/libgriffin.a
	$(CC) $(CFLAGS) $^ $(LDLIBS) $(SERVE_LIBS) $(EDIT_LIBS) $(MPI_LIBS) -o $@

TEST_OBJ := $(BUILD)/tests/testutil.o $(BUILD)/tests/hostile.o $(BUILD)/tests/kernel_fixtures.o

$(BUILD)/tests/%: tests/%.c tests/testutil.h tests/hostile.h tests/kernel_fixtures.h $(TEST_OBJ) $(BUILD)/bench/bench_limits.o $(BUILD)/libgriffin.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(TEST_OBJ) $(EXTRA_TEST_OBJ) $(BUILD)/bench/bench_limits.o $(BUILD)/libgriffin.a $(LDLIBS) -lcmocka -o $@

# The allocation counter replaces malloc & co.: linked only into the tests
# that count (alloc_count.h).
ALLOC_COUNT_TESTS := test_generate test_slots
$(ALLOC_COUNT_TESTS:%=$(BUILD)/tests/%): $(BUILD)/tests/alloc_count.o
$(ALLOC_COUNT_TESTS:%=$(BUILD)/tests/%): EXTRA_TEST_OBJ := $(BUILD)/tests/alloc_count.o

# Failing allocations on purpose (tests/alloc_fail.h): the library's
# allocation calls reach the wrappers through the linker's --wrap, which
# keeps ASan's allocator (and its leak check) underneath. The fault shim is
# an LD_PRELOAD library the same test runs the CLI under (not under ASan).
ALLOC_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,--wrap=aligned_alloc,--wrap=strdup,--wrap=mmap,--wrap=munmap
$(BUILD)/tests/test_faults: $(BUILD)/tests/alloc_fail.o $(BUILD)/tests/fault_shim.so
$(BUILD)/tests/test_faults: EXTRA_TEST_OBJ := $(BUILD)/tests/alloc_fail.o $(ALLOC_WRAP)
$(BUILD)/tests/alloc_fail.o: tests/alloc_fail.c tests/alloc_fail.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/tests/fault_shim.so: tests/fault_shim.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -O2 -g -fPIC -shared $< -o $@ -ldl

$(BUILD)/tests/alloc_count.o: tests/alloc_count.c tests/alloc_count.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/tests/testutil.o: tests/testutil.c tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/tests/kernel_fixtures.o: tests/kernel_fixtures.c tests/kernel_fixtures.h tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/tests/hostile.o: tests/hostile.c tests/hostile.h tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

ASAN_OPT := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

tests-built: $(BUILD)/griffin $(TESTS:%=$(BUILD)/tests/%)

# Models trained by Debian's spm_train, and what spm_encode / spm_decode make
# of the test lines: the reference the tokenizer tests compare against. Both
# builds' tests share them.
SPM_FIXTURES := build/spm-fixtures
$(SPM_FIXTURES)/.stamp: tests/tokenizer/make_corpus.py tests/tokenizer/build_fixtures.sh
	bash tests/tokenizer/build_fixtures.sh $(SPM_FIXTURES)
spm-fixtures: $(SPM_FIXTURES)/.stamp

# tests/run.sh prints the closing "tests: N passed, N failed" line.
# Checked once, on the optimised build: the layout (no import circles,
# inference free of training), the docs' links and README's length, the
# exported symbols, the headers from C++, a program built against an
# installed tree, and README's shell examples run as written.
define LIB_CHECKS
python3 tests/check_layout.py $(BUILD)
bash tests/check_docs.sh
bash tests/check_dp_model.sh $(BUILD)
bash tests/check_readme.sh $(BUILD)
bash tests/check_symbols.sh $(BUILD)
$(BUILD)/tests/test_cpp
MAKE="$(MAKE)" bash tests/check_install.sh $(BUILD)
endef
export LIB_CHECKS

# `griffin serve` end to end (tests/test_serve.sh: curl and the official
# OpenAI Node client, whose tests/node/node_modules it makes with `npm ci`),
# counted as one check per build: the optimised one and the sanitizer one.
SERVE_CHECKS      := bash tests/test_serve.sh $(BUILD)
SERVE_ASAN_CHECKS := bash tests/test_serve.sh build-asan
export SERVE_CHECKS SERVE_ASAN_CHECKS
# `mpirun -np 2 griffin train` on loopback against one process
# (tests/test_dist.sh), one check, on the optimised build: OpenMPI's own
# allocations would read as leaks under LeakSanitizer.
DIST_CHECKS := bash tests/test_dist.sh $(BUILD)
export DIST_CHECKS

test-fast: tests-built spm-fixtures lib $(BUILD)/tests/test_cpp
	CHECKS="$$(printf '%s\n%s\n%s' "$$LIB_CHECKS" "$$SERVE_CHECKS" "$$DIST_CHECKS")" bash tests/run.sh "$(TESTS)" "$(BUILD):optimised:$(PER_SET_TESTS)"

test-asan: spm-fixtures
	$(MAKE) BUILD=build-asan OPT="$(ASAN_OPT)" tests-built
	CHECKS="$$SERVE_ASAN_CHECKS" bash tests/run.sh "$(TESTS)" "build-asan:asan+ubsan:$(PER_SET_ASAN)"

# Only the server's test, on this build: `make test-serve` (BUILD=build-asan
# OPT=... for the sanitizer build).
.PHONY: test-serve test-dist
test-serve: $(BUILD)/griffin spm-fixtures
	bash tests/test_serve.sh $(BUILD)
test-dist: $(BUILD)/griffin
	bash tests/test_dist.sh $(BUILD)

# Every test, optimised and under AddressSanitizer + UndefinedBehaviorSanitizer.
test: tests-built spm-fixtures lib $(BUILD)/tests/test_cpp
	$(MAKE) BUILD=build-asan OPT="$(ASAN_OPT)" tests-built
	CHECKS="$$(printf '%s\n%s\n%s\n%s' "$$LIB_CHECKS" "$$SERVE_CHECKS" "$$DIST_CHECKS" "$$SERVE_ASAN_CHECKS")" bash tests/run.sh "$(TESTS)" "$(BUILD):optimised:$(PER_SET_TESTS)" "build-asan:asan+ubsan:$(PER_SET_ASAN)"

# The same sources with clang (what macOS and many Linux users build with,
# and what libFuzzer needs), in build-clang: the build warning-free and every
# test program once on the default kernel set (no sanitizer build: the GCC
# one covers that), plus the public headers from clang++. CI runs it after
# `make test`. clang's OpenMP runtime is LLVM's libomp (OpenBLAS keeps
# GCC's libgomp beside it): the tests that count allocations skip there.
CLANG_BUILD := build-clang
.PHONY: test-clang
test-clang: spm-fixtures
	@mkdir -p $(CLANG_BUILD)
	@$(MAKE) CC=clang CXX=clang++ BUILD=$(CLANG_BUILD) tests-built $(CLANG_BUILD)/tests/test_cpp > $(CLANG_BUILD)/make.log 2>&1 || \
	  { cat $(CLANG_BUILD)/make.log; echo "test-clang: the clang build failed"; exit 1; }
	@if grep 'warning:' $(CLANG_BUILD)/make.log; then echo "test-clang: the clang build warns"; exit 1; fi
	CHECKS="$(CLANG_BUILD)/tests/test_cpp" bash tests/run.sh "$(TESTS)" "$(CLANG_BUILD):clang"

demo: $(BUILD)/griffin
	bash tools/demo.sh

# ---- fuzzing (docs/fuzzing.md) ------------------------------------------------
# libFuzzer targets for every parser of untrusted bytes (tests/fuzz/fuzz_*.c),
# built with clang in build-fuzz/: the whole library and the server's request
# code compiled with -fsanitize=fuzzer-no-link (libFuzzer's coverage) plus ASan
# and UBSan, each target linked with -fsanitize=fuzzer. The build must be
# warning-free, as test-clang's.
#   make fuzz          builds build-fuzz/fuzz/fuzz_NAME for each FUZZ_TARGETS name
#   make fuzz-regress  runs each target once over its committed inputs
#                      (tests/fuzz/corpus/NAME and findings/NAME; no fuzzing)
#   make fuzz-smoke    fuzz-regress, then fuzzes each target FUZZ_SECONDS (CI)
# tests/fuzz/run.sh runs them (and the long runs docs/fuzzing.md records);
# tests/fuzz/make_seeds.sh remakes the corpora with griffin's own commands.
FUZZ_BUILD   := build-fuzz
FUZZ_TARGETS := safetensors config model run npy token_data tokenizer encode checkpoint completions chat snapshot
# -Wno-pass-failed: the instrumentation keeps clang from vectorising the
# `#pragma omp simd` loops, which it reports as a warning in every build of
# this kind; the optimised builds show the loops do vectorise.
FUZZ_OPT     := -O1 $(ARCH) -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=all -Wno-pass-failed
FUZZ_SECONDS ?= 15
FUZZ_COMMON  := $(BUILD)/tests/fuzz/fuzz_common.o
# The request targets link the server's parsing and response code, which
# is not in the library (SERVE_SRC).
FUZZ_REQUEST := $(BUILD)/tests/fuzz/request.o $(BUILD)/src/serve/openai.o $(BUILD)/src/serve/replies.o \
                $(BUILD)/src/serve/util.o
$(BUILD)/fuzz/fuzz_completions $(BUILD)/fuzz/fuzz_chat: $(FUZZ_REQUEST) tests/fuzz/request.h
$(BUILD)/fuzz/fuzz_completions $(BUILD)/fuzz/fuzz_chat: FUZZ_EXTRA := $(FUZZ_REQUEST) -lpthread

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(FUZZ_COMMON) $(BUILD)/libgriffin.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer $< $(FUZZ_COMMON) $(FUZZ_EXTRA) $(BUILD)/libgriffin.a $(LDLIBS) -o $@

.PHONY: fuzz fuzz-targets fuzz-regress fuzz-smoke
fuzz-targets: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)

fuzz:
	@mkdir -p $(FUZZ_BUILD)
	@$(MAKE) CC=clang BUILD=$(FUZZ_BUILD) OPT="$(FUZZ_OPT)" fuzz-targets > $(FUZZ_BUILD)/make.log 2>&1 || \
	  { cat $(FUZZ_BUILD)/make.log; echo "fuzz: the fuzzing build failed"; exit 1; }
	@if grep 'warning:' $(FUZZ_BUILD)/make.log; then echo "fuzz: the fuzzing build warns"; exit 1; fi
	@echo "fuzz: $(words $(FUZZ_TARGETS)) targets in $(FUZZ_BUILD)/fuzz/"

fuzz-regress: fuzz
	bash tests/fuzz/run.sh regress $(FUZZ_BUILD) $(FUZZ_TARGETS)

fuzz-smoke: fuzz
	bash tests/fuzz/run.sh regress $(FUZZ_BUILD) $(FUZZ_TARGETS)
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh fuzz $(FUZZ_BUILD) $(FUZZ_TARGETS)

# ---- the library as others use it ----------------------------------------------
#   make test-symbols  libgriffin.a defines only gf_ globals; libgriffin.so exports
#                      exactly the functions of the public headers
#   make test-cpp      both public headers from C++17 (-Wall -Wextra -Werror), a
#                      program linked against libgriffin.so
#   make test-install  make install into a temporary DESTDIR, a program built
#                      there with pkg-config (shared and static) decodes as the CLI
# Each prints one line and fails the make when its check fails.
CXXFLAGS_TEST := -std=c++17 -Wall -Wextra -Werror -O2 -Iinclude
.PHONY: test-symbols test-cpp test-install
test-symbols: $(BUILD)/libgriffin.a $(SHLIB)
	bash tests/check_symbols.sh $(BUILD)

$(BUILD)/tests/test_cpp: tests/test_cpp.cpp include/griffin.h include/griffin_train.h $(SHLIB)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_TEST) $< -L$(BUILD) -lgriffin -Wl,-rpath,'$$ORIGIN/..' -o $@

test-cpp: $(BUILD)/tests/test_cpp
	$(BUILD)/tests/test_cpp

test-install: $(BUILD)/griffin $(BUILD)/libgriffin.a $(SHLIB)
	MAKE="$(MAKE)" bash tests/check_install.sh $(BUILD)

# ---- install -----------------------------------------------------------------
# `make install PREFIX=/usr/local DESTDIR=`: bin/griffin, include/griffin.h and
# griffin_train.h, lib/libgriffin.a, lib/libgriffin.so* and lib/pkgconfig/griffin.pc.
# `pkg-config --libs griffin` links the shared library (which carries its own
# dependencies); `pkg-config --static --libs griffin` adds what libgriffin.a
# needs, as Libs.private: the CLI's own LDLIBS (OpenBLAS, the OpenMP build with
# its rpath where the Makefile uses it; cJSON; -lm; -fopenmp). Not as
# Requires.private, which would make the shared library's users need the
# -dev packages' .pc files (and get cJSON's -I) for no use.
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
INCLUDEDIR ?= $(PREFIX)/include
LIBDIR     ?= $(PREFIX)/lib
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL    ?= install
# The .pc file's paths in terms of ${prefix}, so that pkg-config --define-prefix
# can relocate an installed tree.
pc_path = $(patsubst $(PREFIX)%,$${prefix}%,$(1))

.PHONY: install uninstall FORCE
$(BUILD)/griffin.pc: FORCE
	@mkdir -p $(dir $@)
	@printf '%s\n' 'prefix=$(PREFIX)' 'exec_prefix=$${prefix}' \
	  'libdir=$(call pc_path,$(LIBDIR))' 'includedir=$(call pc_path,$(INCLUDEDIR))' '' \
	  'Name: griffin' \
	  'Description: Hawk, Griffin and RecurrentGemma language models in C (inference and training)' \
	  'Version: $(VERSION)' \
	  'Cflags: -I$${includedir}' \
	  'Libs: -L$${libdir} -lgriffin' \
	  'Libs.private: $(strip $(LDLIBS))' > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

install: $(BUILD)/griffin $(BUILD)/libgriffin.a $(SHLIB) $(BUILD)/griffin.pc
	$(INSTALL) -d -m 755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR)
	$(INSTALL) -m 755 $(BUILD)/griffin $(DESTDIR)$(BINDIR)/griffin
	$(INSTALL) -m 644 include/griffin.h include/griffin_train.h $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL) -m 644 $(BUILD)/libgriffin.a $(DESTDIR)$(LIBDIR)/libgriffin.a
	$(INSTALL) -m 755 $(SHLIB) $(DESTDIR)$(LIBDIR)/$(notdir $(SHLIB))
	ln -sf $(notdir $(SHLIB)) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libgriffin.so
	$(INSTALL) -m 644 $(BUILD)/griffin.pc $(DESTDIR)$(PKGCONFIGDIR)/griffin.pc

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/griffin $(DESTDIR)$(INCLUDEDIR)/griffin.h $(DESTDIR)$(INCLUDEDIR)/griffin_train.h \
	      $(DESTDIR)$(LIBDIR)/libgriffin.a $(DESTDIR)$(LIBDIR)/$(notdir $(SHLIB)) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	      $(DESTDIR)$(LIBDIR)/libgriffin.so $(DESTDIR)$(PKGCONFIGDIR)/griffin.pc

clean:
	rm -rf build build-asan build-clang build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- bench/ programs (the paper's §5 figures; bench/README.md) ---------------
# `make bench-programs` builds build/bench/<name> from bench/<name>.c and the
# shared bench/bench_common.c, against the library. Kept apart from `all`
# and `test` so the figures never slow the ordinary build.
BENCH_PROGS := decode_latency decode_throughput train_step_time gemv_speed round_overhead random_model
.PHONY: bench-programs
bench-programs: $(BENCH_PROGS:%=$(BUILD)/bench/%)

$(BUILD)/bench/%: bench/%.c bench/bench_common.c bench/bench_common.h $(BUILD)/bench/bench_limits.o $(BUILD)/libgriffin.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< bench/bench_common.c $(BUILD)/bench/bench_limits.o $(BUILD)/libgriffin.a $(LDLIBS) -o $@
