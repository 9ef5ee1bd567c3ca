# clobber: build, test, install. `make test` sets up what the tests need on a fresh Debian/Ubuntu.

PREFIX ?= /usr/local
DESTDIR ?=
CARGO ?= cargo
BINDIR = $(DESTDIR)$(PREFIX)/bin
DATADIR = $(DESTDIR)$(PREFIX)/share/clobber

.PHONY: all build test test-deps lint install uninstall clean

all: build

build:
	$(CARGO) build --release --locked

test-deps:
	scripts/test-deps

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

test: test-deps lint
	$(CARGO) test --workspace --locked

install: build
	install -d $(BINDIR) $(DATADIR)/scenarios
	install -m 0755 target/release/clobber $(BINDIR)/clobber
	install -m 0644 scenarios/*.toml $(DATADIR)/scenarios/

uninstall:
	rm -f $(BINDIR)/clobber
	rm -rf $(DATADIR)

clean:
	$(CARGO) clean
