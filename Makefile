# hutch — build, test, demo. Every target that needs system packages calls `deps` first.
SWIFT     ?= swift
PREFIX    ?= /usr/local
DEBUG_BIN  = .build/debug
# Release: the Swift runtime and (link/libstdc++.so) the C++ library linked statically; see that file.
REL_FLAGS  = -c release --static-swift-stdlib -Xlinker -L$(CURDIR)/link
# A python3 that has pytest: the one on PATH if it does, else Debian's (python3-pytest).
PYTHON    ?= $(shell python3 -c 'import pytest' >/dev/null 2>&1 && echo python3 || echo /usr/bin/python3)

APT_PACKAGES = libcap-dev libseccomp-dev libnl-3-dev libnl-route-3-dev libnftables-dev libnftables1 libnetfilter-conntrack3 libnftnl-dev libmnl-dev libnetfilter-conntrack-dev nftables iptables iproute2 \
               conntrack util-linux procps psmisc python3 python3-pytest curl libsqlite3-dev sqlite3 iperf3 strace make gcc libc6-dev libstdc++-12-dev nginx-light wrk python3-urllib3 \
               libcurl4-openssl-dev etcd-server openssl


.PHONY: all deps build release release-check shim bench-build bench bench-quick bench-ports test unit test-netlink test-integration demo install clean

all: build

# Installs only what is missing (apt-get update only when something is).
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

SHIM_SRC   = $(wildcard Sources/hutch-shim/*.c Sources/hutch-shim/*.h)
SHIM_CC    = cc -std=gnu11 -O2 -Wall -Wextra -static

build: deps
	$(SWIFT) build --build-tests
	$(MAKE) shim BIN=$$($(SWIFT) build --show-bin-path)

release: deps
	$(SWIFT) build $(REL_FLAGS)
	$(MAKE) shim BIN=$$($(SWIFT) build $(REL_FLAGS) --show-bin-path)

# The release build as installed: libstdc++ linked statically (link/libstdc++.so), and one real
# container run with it, inside a throwaway network namespace and state root. Run by CI.
release-check: release
	@bin=$$($(SWIFT) build $(REL_FLAGS) --show-bin-path); \
	if ldd $$bin/hutch | grep -q libstdc++; then echo "release-check: $$bin/hutch loads libstdc++.so"; exit 1; fi; \
	root=$$(mktemp -d /tmp/hutch-release-check.XXXXXX); \
	out=$$(unshare --net sh -c "ip link set lo up && $$bin/hutch --root $$root run --rm --net none -h check -- hostname"); rc=$$?; \
	rm -rf $$root; \
	for d in /sys/fs/cgroup/hutch /sys/fs/cgroup/*/hutch; do rmdir $$d 2>/dev/null || true; done; \
	if [ $$rc -ne 0 ] || [ "$$out" != check ]; then echo "release-check: run failed (rc=$$rc, output: $$out)"; exit 1; fi; \
	echo "release-check: ok ($$($$bin/hutch --version), no libstdc++.so)"

# The shim: plain C, statically linked (no Swift runtime), placed next to the hutch binary.
shim: $(BIN)/hutch-shim
$(BIN)/hutch-shim: $(SHIM_SRC)
	$(SHIM_CC) -o $@ $(filter %.c,$(SHIM_SRC)) -lcap -lseccomp

# Everything: unit tests (no root), the netlink layer inside a throwaway netns, then the root
# integration suite (each test in its own throwaway host netns and state root).
test: build unit test-netlink test-integration

unit:
	$(SWIFT) test --skip-build --skip NetlinkRootTests

test-netlink:
	HUTCH_NETNS_TEST=1 unshare --net $(SWIFT) test --skip-build --filter NetlinkRootTests

test-integration:
	HUTCH=$(CURDIR)/$(DEBUG_BIN)/hutch HUTCH_SHIM=$(CURDIR)/$(DEBUG_BIN)/hutch-shim \
	  $(PYTHON) -m pytest -q -p no:cacheprovider Tests/integration

# Not a test: publish/unpublish cost at 1, 100, 1,000 mappings on both backends, in a throwaway netns.
bench-ports: deps
	SWIFT=$(SWIFT) sh bench/ports.sh

# Not a test: the benchmark suite of issue 7 (release build in its own scratch path, everything
# inside throwaway namespaces). Prints one table; raw numbers go to bench/results/*.json.
BENCH_SCRATCH = .build-bench
BENCH_BIN     = $$($(SWIFT) build $(REL_FLAGS) --scratch-path $(BENCH_SCRATCH) --show-bin-path)
bench-build: deps
	$(SWIFT) build $(REL_FLAGS) --scratch-path $(BENCH_SCRATCH)
	$(MAKE) -B shim BIN=$(BENCH_BIN)
bench: bench-build
	python3 bench/bench.py --hutch $(BENCH_BIN)/hutch
bench-quick: bench-build
	python3 bench/bench.py --quick --hutch $(BENCH_BIN)/hutch

demo: build
	HUTCH=$(CURDIR)/$(DEBUG_BIN)/hutch bash examples/demo.sh

install: release
	install -D -m 0755 .build/release/hutch $(DESTDIR)$(PREFIX)/bin/hutch
	install -D -m 0755 .build/release/hutch-shim $(DESTDIR)$(PREFIX)/bin/hutch-shim
	install -D -m 0755 .build/release/hutch-node $(DESTDIR)$(PREFIX)/bin/hutch-node

clean:
	rm -rf .build
