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
CFLAGS  := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wshadow -Wno-unused-parameter \
           $(OPT) -fno-trapping-math -g -fopenmp -Iinclude -Isrc -Ibench $(shell $(BLAS_PC) pkg-config --cflags openblas libcjson 2>/dev/null)
LDLIBS  := $(shell $(BLAS_PC) pkg-config --libs openblas libcjson 2>/dev/null || echo -lopenblas -lcjson) \
           $(BLAS_RPATH) -lm -fopenmp

LIB_SRC  := $(wildcard src/*.c src/model/*.c src/formats/*.c src/generate/*.c src/kernels/*.c src/layers/*.c src/tokenizer/*.c src/train/*.c src/tasks/*.c)
TOOL_SRC := $(wildcard tools/*.c)
TESTS    := test_kernels test_narrow_kernels test_quantize test_golden test_safetensors_io test_model_load test_npy_io test_units test_cli test_reference \
            test_tokenizer_spm test_tokenizer_input test_text_cli test_grad test_train test_tasks test_masks test_generate

# Run again once per lower kernel set of the CPU (tests/run.sh, GRIFFIN_ISA):
# the tests that run models end to end (the kernel tests check every SIMD
# version the CPU has against its twin at the default set already). Under
# the sanitizers the slowest two (the CLI's training runs, the PyTorch
# reference: 45 s of the 65 s a set takes optimised) run at the default set
# only, which keeps `make test` within CI's time.
PER_SET_TESTS := test_quantize test_golden test_model_load test_units test_cli test_reference test_text_cli \
                 test_grad test_train test_generate
PER_SET_ASAN  := $(filter-out test_cli test_reference,$(PER_SET_TESTS))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o) $(BUILD)/bench/bench_limits.o

.PHONY: all test test-fast test-asan tests-built clean demo spm-fixtures
all: $(BUILD)/griffin

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libgriffin.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BUILD)/griffin: $(TOOL_OBJ) $(BUILD)/libgriffin.a
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

TEST_OBJ := $(BUILD)/tests/testutil.o $(BUILD)/tests/hostile.o $(BUILD)/tests/kernel_fixtures.o

$(BUILD)/tests/%: tests/%.c tests/testutil.h tests/hostile.h tests/kernel_fixtures.h $(TEST_OBJ) $(BUILD)/bench/bench_limits.o $(BUILD)/libgriffin.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(TEST_OBJ) $(BUILD)/bench/bench_limits.o $(BUILD)/libgriffin.a $(LDLIBS) -lcmocka -o $@

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
test-fast: tests-built spm-fixtures
	bash tests/run.sh "$(TESTS)" "$(BUILD):optimised:$(PER_SET_TESTS)"

test-asan: spm-fixtures
	$(MAKE) BUILD=build-asan OPT="$(ASAN_OPT)" tests-built
	bash tests/run.sh "$(TESTS)" "build-asan:asan+ubsan:$(PER_SET_ASAN)"

# Every test, optimised and under AddressSanitizer + UndefinedBehaviorSanitizer.
test: tests-built spm-fixtures
	$(MAKE) BUILD=build-asan OPT="$(ASAN_OPT)" tests-built
	bash tests/run.sh "$(TESTS)" "$(BUILD):optimised:$(PER_SET_TESTS)" "build-asan:asan+ubsan:$(PER_SET_ASAN)"

demo: $(BUILD)/griffin
	bash tools/demo.sh

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- bench/ programs (the paper's §5 figures; bench/README.md) ---------------
# `make bench-programs` builds build/bench/<name> from bench/<name>.c and the
# shared bench/bench_common.c, against the library. Kept apart from `all`
# and `test` so the figures never slow the ordinary build.
BENCH_PROGS := decode_latency decode_throughput train_step_time gemv_speed
.PHONY: bench-programs
bench-programs: $(BENCH_PROGS:%=$(BUILD)/bench/%)

$(BUILD)/bench/%: bench/%.c bench/bench_common.c bench/bench_common.h $(BUILD)/bench/bench_limits.o $(BUILD)/libgriffin.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< bench/bench_common.c $(BUILD)/bench/bench_limits.o $(BUILD)/libgriffin.a $(LDLIBS) -o $@
