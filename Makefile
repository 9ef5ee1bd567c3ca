# clobber: build, test, install. `make test` sets up what the tests need on a fresh Debian/Ubuntu.

PREFIX ?= /usr/local
DESTDIR ?=
CARGO ?= cargo
BINDIR = $(DESTDIR)$(PREFIX)/bin
DATADIR = $(DESTDIR)$(PREFIX)/share/clobber

.PHONY: all build test test-deps test-kernel lint matrix install uninstall clean

all: build

build:
	$(CARGO) build --release --locked

test-deps:
	scripts/test-deps

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# The matrix tests boot this kernel; fetching it needs the network once, then the cache serves it.
test-kernel:
	$(CARGO) run --locked -q -- kernel fetch debian:6.1

test: test-deps lint test-kernel
	$(CARGO) test --workspace --locked

# The suite inside the four Debian kernels under qemu, one results file per kernel release.
matrix:
	$(CARGO) run --release --locked -q -- matrix --kernel debian:5.10 --kernel debian:6.1 \
		--kernel debian:6.12 --kernel debian:7 --results results

install: build
	install -d $(BINDIR) $(DATADIR)/scenarios
	install -m 0755 target/release/clobber $(BINDIR)/clobber
	install -m 0644 scenarios/*.toml $(DATADIR)/scenarios/

uninstall:
	rm -f $(BINDIR)/clobber
	rm -rf $(DATADIR)

clean:
	$(CARGO) clean
