# Sotto: the top-level commands. Meson + Ninja do the building; see README.md.
# SPDX-License-Identifier: GPL-3.0-or-later

BUILD      ?= build
TESTBUILD  ?= build-test
BENCHBUILD ?= build-bench
FUZZBUILD  ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: all build deps test demo bench fuzz format clean

all: build

deps:
	@bash scripts/deps.sh

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized

# Every suite (unit, headers, fuzz-replay, integration) under AddressSanitizer and
# UndefinedBehaviorSanitizer.
test: deps
	@[ -f $(TESTBUILD)/build.ninja ] || meson setup $(TESTBUILD) --buildtype=debug \
		-Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(TESTBUILD)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(TESTBUILD) --print-errorlogs --num-processes 2; \
		rc=$$?; /usr/bin/python3 scripts/test-summary.py $(TESTBUILD); exit $$rc

demo: deps build
	@bash scripts/demo.sh $(BUILD)/src/cli/sotto

bench: deps
	@[ -f $(BENCHBUILD)/build.ninja ] || meson setup $(BENCHBUILD) --buildtype=release
	ninja -C $(BENCHBUILD)
	@bash bench/run.sh $(BENCHBUILD)

fuzz: deps
	@[ -f $(FUZZBUILD)/build.ninja ] || CC=clang meson setup $(FUZZBUILD) --buildtype=debug \
		-Dfuzzing=true -Dtests=disabled -Db_lundef=false \
		-Db_sanitize=address,undefined
	ninja -C $(FUZZBUILD)
	@bash scripts/fuzz.sh $(FUZZBUILD) $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(TESTBUILD) $(BENCHBUILD) $(FUZZBUILD)
