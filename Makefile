# clobber: build, test, install. `make test` sets up what the tests need on a fresh Debian/Ubuntu.

PREFIX ?= /usr/local
DESTDIR ?=
CARGO ?= cargo
BINDIR = $(DESTDIR)$(PREFIX)/bin
DATADIR = $(DESTDIR)$(PREFIX)/share/clobber

FUZZ_RUNS ?= 1000000

.PHONY: all build test test-deps test-kernel lint fuzz-build fuzz bench bench-matrix matrix install uninstall clean

all: build

build:
	$(CARGO) build --release --locked

test-deps:
	scripts/test-deps

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	scripts/actionlint .github/workflows/*.yml

# The matrix tests boot this kernel; fetching it needs the network once, then the cache serves it.
test-kernel:
	$(CARGO) run --locked -q -- kernel fetch debian:6.1

test: test-deps lint fuzz-build test-kernel
	$(CARGO) test --workspace --locked

# The suite inside the four Debian kernels under qemu, one results file per kernel release.
matrix:
	$(CARGO) run --release --locked -q -- matrix --kernel debian:5.10 --kernel debian:6.1 \
		--kernel debian:6.12 --kernel debian:7 --results results

# The fuzz targets must keep building, and replaying their corpus must not panic.
fuzz-build:
	$(CARGO) build --locked --manifest-path fuzz/Cargo.toml
	fuzz/target/debug/scenario_file -runs=0 fuzz/corpus/scenario_file
	fuzz/target/debug/results_file -runs=0 fuzz/corpus/results_file

# Coverage-guided fuzzing with cargo-fuzz (stable toolchain, no sanitizer), FUZZ_RUNS inputs each;
# new inputs go to fuzz/target/corpus, the committed corpus stays small.
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz
	for target in scenario_file results_file; do \
		mkdir -p fuzz/target/corpus/$$target && \
		(cd fuzz && cargo fuzz run -s none -O $$target target/corpus/$$target corpus/$$target -- -runs=$(FUZZ_RUNS)) || exit 1; \
	done

# Trials per second next to the floor, memory over a long run, and what each update method costs.
bench:
	$(CARGO) build --release --locked
	target/release/clobber bench
	$(CARGO) bench --locked -p clobber --bench methods

# The matrix's throughput: the whole catalogue x the 4 Debian kernels x 100 trials under qemu,
# wall time per kernel and in all (the goal: 15 minutes under TCG on 2 cores). Takes that long.
bench-matrix:
	$(CARGO) build --release --locked
	target/release/clobber bench --matrix

install: build
	install -d $(BINDIR) $(DATADIR)/scenarios
	install -m 0755 target/release/clobber $(BINDIR)/clobber
	install -m 0644 scenarios/*.toml $(DATADIR)/scenarios/

uninstall:
	rm -f $(BINDIR)/clobber
	rm -rf $(DATADIR)

clean:
	$(CARGO) clean
