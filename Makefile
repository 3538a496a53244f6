# xdpfw. `make demo` runs a throwaway veth lab; `make test` runs every test.
# Both need root (BPF and network namespaces) and install what is missing.

GO       ?= go
BIN      := bin/xdpfw
CLANG    := clang-19
PKGS     := ./...
# Debian packages the build, the tests and the demo use.
# systemd gives systemd-analyze, which checks dist/xdpfw.service.
DEB_PKGS := clang-19 llvm-19 libbpf-dev iproute2 iputils-ping bpftool systemd
# What the benchmarks add: the peers they measure against, and ethtool.
BENCH_PKGS := xdp-tools nftables iptables ethtool
# What test-kernels adds: qemu to boot Debian's kernels, and what its
# initramfs is made of.
KERNEL_PKGS := qemu-system-x86 busybox-static cpio gzip xz-utils zstd

.PHONY: all build install man deb deps bpffs test test-unit test-kernels fuzz demo generate check-generated bench bench-quick bench-baseline pcaps clean

all: build

# A static binary, as the package ships: without cgo the runtime's threads are
# its own, which lets short commands lock their heap (cmd/xdpfw/memlock.go).
# BUILD_TAGS leave out urfave/cli's man-page writer, unused, whose markdown
# package's initialisation cost every command about 1 ms at start.
BUILD_TAGS := urfave_cli_no_docs
build:
	CGO_ENABLED=0 $(GO) build -tags $(BUILD_TAGS) -o $(BIN) ./cmd/xdpfw

# make install [PREFIX=/usr/local] [DESTDIR=]: the binary, its manual page, the systemd unit
# (its ExecStart pointed at the installed binary and config) and the example config,
# which is never overwritten once there.
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(SBINDIR)/xdpfw
	install -D -m 0644 dist/xdpfw.8 $(DESTDIR)$(MANDIR)/man8/xdpfw.8
	install -d $(DESTDIR)$(UNITDIR)
	sed -e 's|/usr/sbin/xdpfw|$(SBINDIR)/xdpfw|' -e 's|/etc/xdpfw|$(SYSCONFDIR)/xdpfw|g' dist/xdpfw.service > $(DESTDIR)$(UNITDIR)/xdpfw.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/xdpfw.service
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/xdpfw/xdpfw.yaml ]; then \
		echo "kept $(DESTDIR)$(SYSCONFDIR)/xdpfw/xdpfw.yaml"; \
	else \
		install -D -m 0644 dist/xdpfw.yaml $(DESTDIR)$(SYSCONFDIR)/xdpfw/xdpfw.yaml; \
	fi

# make deb [DEB_OUT=bin] [VERSION=]: xdpfw_VERSION_ARCH.deb (binary, unit,
# example config as a conffile) built with dpkg-deb (scripts/deb.sh).
DEB_OUT ?= bin
VERSION ?= 0.1.0+git$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
deb:
	GO=$(GO) ./scripts/deb.sh $(DEB_OUT) $(VERSION)

# make man: dist/xdpfw.8, the manual page, written again from the commands'
# help (cmd/xdpfw/manpage_test.go; the suite fails while it is stale).
man:
	XDPFW_WRITE_MAN=1 $(GO) test -count=1 -run '^TestManPage$$' ./cmd/xdpfw

# Install the Debian packages that are missing (needs root and apt).
deps:
	@missing=$$(for p in $(DEB_PKGS) $(EXTRA_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# The BPF filesystem must be mounted for pins.
bpffs:
	@mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

# Every test, root ones included; XDPFW_REQUIRE_PRIV=1 makes them fail
# instead of skip when they cannot run. Built without cgo, as the binary
# ships (the CLI locks its heap only in such a build).
test: deps bpffs
	CGO_ENABLED=0 XDPFW_REQUIRE_PRIV=1 $(GO) test -count=1 -timeout 10m $(PKGS)
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./pkg/loader ./pkg/blocklist

# xdpfw end to end on Debian's kernels, each booted under qemu (TCG) with a
# minimal initramfs: replays, live counters on veths in both modes and at
# MTU 9000, the ruleset commands, detach; plus the verifier's processed
# instructions per program. 5.10 checks only that xdpfw refuses it cleanly.
# Kernel packages are downloaded (not installed) into
# $$XDPFW_KERNEL_CACHE (default /var/cache/xdpfw-kernels) and reused.
KERNELS ?= 6.1 6.12
test-kernels: EXTRA_PKGS := $(KERNEL_PKGS)
test-kernels: deps
	./scripts/kernels/test.sh $(KERNELS)

# Bounded fuzzing: the datapath against the reference model on mutated
# frames and on random rulesets of every condition kind, and the decoder
# on its own; the connection-tracking model and the input parsers
# (ruleset files, blocklists; inputs capped in size, so memory is
# bounded). Budgets are counts of executions (-fuzztime Nx), each about
# 30 s (15 s for the parsers) on the development VM: a wall-clock
# -fuzztime races Go's fuzzing coordinator at its deadline and now and
# then fails a target with "context deadline exceeded" and no input (seen
# in CI here). FUZZ_SCALE multiplies them; minimizing a new input is
# capped at FUZZ_MINIMIZE.
FUZZ_SCALE ?= 1
FUZZ_MINIMIZE ?= 5s
fuzz_run = $(GO) test -run '^$$' -fuzz '^$(1)$$' -fuzztime $$(( $(2) * $(FUZZ_SCALE) ))x -fuzzminimizetime $(FUZZ_MINIMIZE) $(3)
fuzz: deps bpffs
	XDPFW_REQUIRE_PRIV=1 $(call fuzz_run,FuzzDatapath,10000,./pkg/loader)
	XDPFW_REQUIRE_PRIV=1 $(call fuzz_run,FuzzRulesetAgreement,60,./pkg/loader)
	XDPFW_REQUIRE_PRIV=1 $(call fuzz_run,FuzzConntrackAgreement,20000,./pkg/loader)
	XDPFW_REQUIRE_PRIV=1 $(call fuzz_run,FuzzConntrackFrames,80000,./pkg/loader)
	$(call fuzz_run,FuzzDecode,900000,./pkg/model)
	$(call fuzz_run,FuzzConntrack,500000,./pkg/model)
	$(call fuzz_run,FuzzParseYAML,40000,./pkg/rules)
	$(call fuzz_run,FuzzElementRuns,40000,./pkg/rules)
	$(call fuzz_run,FuzzParse,400000,./pkg/blocklist)

# Tests that need no root.
test-unit:
	$(GO) test -count=1 ./pkg/rules ./pkg/classifier ./pkg/model ./pkg/blocklist ./internal/... ./pkg/replay

demo: deps bpffs build
	./scripts/demo.sh $(BIN)

# Rebuild the committed BPF object and Go bindings from xdp/.
generate:
	cd pkg/layout && $(GO) generate ./...
	cd pkg/loader && $(GO) generate ./...
	cd bench/gen && $(GO) generate ./...

# Fails when the committed object or Go differ from what xdp/ builds.
GENERATED := pkg/loader/xdpfw_bpfel.go pkg/loader/xdpfw_bpfel.o pkg/loader/mapshapes_gen.go pkg/layout/layout_gen.go
check-generated:
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	for f in $(GENERATED); do cp $$f $$tmp/$$(echo $$f | tr / _); done && \
	$(MAKE) -s generate && \
	stale=; for f in $(GENERATED); do \
		cmp -s $$tmp/$$(echo $$f | tr / _) $$f || { stale="$$stale $$f"; cp $$tmp/$$(echo $$f | tr / _) $$f; }; \
	done; \
	if [ -z "$$stale" ]; then \
		echo "generated files are current"; \
	else \
		echo "stale:$$stale: run make generate and commit" >&2; exit 1; \
	fi

# The benchmarks against the peers (bench/cmd/xdpfw-bench): writes
# docs/bench/results.md and the plots, and prints the tables. bench-quick
# is the small smoke run CI uses (results go to a temporary directory).
bench bench-quick: EXTRA_PKGS := $(BENCH_PKGS)

bench: deps bpffs
	$(GO) run ./bench/cmd/xdpfw-bench -out docs/bench
	$(MAKE) -s bench-baseline
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 200x ./pkg/loader
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 5x ./pkg/blocklist

bench-quick: deps bpffs
	@out=$$(mktemp -d) && trap 'rm -rf $$out' EXIT && \
	$(GO) run ./bench/cmd/xdpfw-bench -quick -out $$out

# This build's datapath beside the object of revision BASE, per packet,
# warm and cold, in one run: a datapath change keeps its ratio to the empty
# program within 10% of the baseline's. BASE defaults to the object before
# the latest datapath change: HEAD's while the working tree's differs from
# it, else the one before the last commit that changed it.
bench-baseline: deps bpffs
	@base='$(BASE)'; obj=pkg/loader/xdpfw_bpfel.o; \
	if [ -z "$$base" ]; then \
		if git diff --quiet HEAD -- $$obj; then base=$$(git log -1 --format=%H -- $$obj)~1; else base=HEAD; fi; \
	fi; \
	echo "baseline: $$obj at $$(git rev-parse --short $$base)"; \
	tmp=$$(mktemp --suffix=.o) && trap 'rm -f $$tmp' EXIT && \
	git show $$base:$$obj > $$tmp && \
	XDPFW_BASELINE_OBJ=$$tmp $(GO) test -v -count=1 -run '^$$' -bench '^BenchmarkAgainstBaseline$$' -benchtime 1x ./pkg/loader

# Regenerate testdata/pcaps from internal/fixtures.
pcaps:
	$(GO) test ./internal/fixtures -update

clean:
	rm -rf bin
