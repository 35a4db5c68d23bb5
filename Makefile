# Build, test and demo entry points. `make test` is what CI runs (.ci/run).

GO        ?= go
# Extra flags for go test, e.g. TESTFLAGS='-run TestX -v' or TESTFLAGS='-parallel 4'.
TESTFLAGS ?=
# How long each in-process benchmark runs (go test -benchtime).
BENCHTIME ?= 2s
# How many rounds BenchmarkHomeserverCeiling runs (40 messages each).
E2E_BENCHTIME ?= 5x
# Packages with in-process benchmarks (every package with a Benchmark function but the end-to-end ones).
INPROCESS_BENCH_PKGS = $(shell grep -rl --include='*_test.go' '^func Benchmark' . | xargs -n1 dirname | sort -u | grep -v -e '^./internal/e2e$$' -e '^./tests$$')
# Where `make bench` writes its report: BENCH_REPORT.md (the table), BENCH_REPORT.json (every
# figure) and BENCH_REPORT.cpu.pprof (the bridge's CPU profile under the 10-chat load).
BENCH_REPORT ?= $(CURDIR)/bench-report

# Build tags of every build and test: goolm selects mautrix-go's pure-Go Olm implementation, so that
# end-to-bridge encryption needs no C library. A binary built without it refuses encryption.allow.
TAGS    ?= goolm

MODULE  := github.com/matrix-whatsapp/matrix-whatsapp
# The release tag (git describe; empty without tags, then the binary says v0.1.0-dev) and commit
# stamped into the binary: matrix-whatsapp -version, the version command, the WhatsApp user agent.
VERSION ?= $(shell git describe --tags --dirty 2>/dev/null)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
# "true" when tracked files have uncommitted changes.
DIRTY   ?= $(shell git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo true)
LDFLAGS := -X $(MODULE)/internal/version.Tag=$(VERSION) -X $(MODULE)/internal/version.Commit=$(COMMIT) \
	-X $(MODULE)/internal/version.Dirty=$(DIRTY)

# Tools the Makefile installs into the git-ignored cache folder.
TOOLS       := $(CURDIR)/.cache/tools
STATICCHECK := $(TOOLS)/staticcheck
STATICCHECK_VERSION := v0.8.2

.PHONY: all test unit lint vet deps dendrite postgres build static bench demo clean fuzz faults

all: build

## test: install what the tests need, start PostgreSQL, lint, and run every test, the bridge always
## with the race detector.
## Two packages run at a time (-p 2): most packages' tests wait for servers and timers and leave a
## core idle, one after another (-p 1) they took 5m30s on 2 cores, two at a time 3m55s (the
## simulator's own tests, 90-100 s, keep both cores busy either way). The end-to-end
## tests (./tests) run last, E2E_PARALLEL at a time (on 2 cores four at once keep both cores busy;
## eight at once only slow each other down). The bridge binary they start is built with the race
## detector (E2E_BRIDGE_RACE=1); their own process (the WhatsApp simulator, whose own tests above
## run with the race detector, and the Matrix clients) runs without it, which takes a fifth off
## their time. The fault-injection suite's short form (TestFaultInjection)
## runs there with the other tests; `make faults` runs it in full. After the tests, every fuzz
## target over a parser or converter of untrusted input runs FUZZTIME inputs on top of its checked-in
## seed corpus (testdata/fuzz).
## The packages' race-detector test binaries are built first on all cores (the run's -p 2 would
## build them only two at a time), into a directory that is removed again; the run then takes them
## from the build cache.
test: deps postgres lint
	@bins=$$(mktemp -d) && trap 'rm -rf "$$bins"' EXIT && \
		echo "$(GO) test -tags '$(TAGS)' -race -c -o <temporary directory> <packages with tests>" && \
		$(GO) test -tags '$(TAGS)' -race -c -o "$$bins/" $$($(GO) list -tags '$(TAGS)' -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./... | grep -v '/tests$$')
	$(GO) test -tags '$(TAGS)' -race -count=1 -p 2 -timeout 20m $(TESTFLAGS) $$($(GO) list ./... | grep -v '/tests$$')
	E2E_BRIDGE_RACE=1 $(GO) test -tags '$(TAGS)' -count=1 -parallel $(E2E_PARALLEL) -timeout 20m $(TESTFLAGS) ./tests
	$(MAKE) fuzz

# How many end-to-end tests (./tests) run at once in `make test`.
E2E_PARALLEL ?= 4

# How much each fuzz target runs in `make fuzz` (and so in `make test`): a count of inputs (`Nx`),
# a few seconds each on 2 cores. A count, not a duration: with a duration, Go 1.26's fuzzing
# coordinator can fail a target with "context deadline exceeded" at the deadline without any failing
# input (go.dev/issue/75804, fixed in Go 1.27). FUZZMINIMIZETIME bounds the shrinking of each new
# input the same way (by default Go spends up to 60 s on each, which shows as 0 execs/sec).
FUZZTIME ?= 20000x
FUZZMINIMIZETIME ?= 1000x
# package:target pairs `make fuzz` runs: appservice transactions, both formatting directions, chat
# export archives.
FUZZ_TARGETS := ./bridge:FuzzTransaction ./msgconv:FuzzTextToMatrix ./msgconv:FuzzTextToWhatsApp ./chatexport:FuzzParse

## fuzz: run each fuzz target of FUZZ_TARGETS for FUZZTIME. A failing input is saved under the
## package's testdata/fuzz and replays in every later go test run.
fuzz:
	@for target in $(FUZZ_TARGETS); do \
		pkg=$${target%%:*}; name=$${target##*:}; \
		echo "$(GO) test -tags '$(TAGS)' -run '^$$' -fuzz '^$$name\$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $$pkg"; \
		$(GO) test -tags '$(TAGS)' -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $$pkg || exit 1; \
	done

# Which form `make faults` runs: full (the figures docs/RELIABILITY.md keeps, a few hours) or
# medium (about half an hour).
FAULTS ?= full

## faults: the fault-injection suite (tests/faults_test.go) in its FAULTS form, printing the table of
## messages sent, delivered, duplicated, lost and out of order per scenario, also written to
## faults-report.md. Needs PostgreSQL's initdb and pg_ctl (a private cluster is started).
faults: deps postgres
	FAULTS=$(FAULTS) FAULTS_REPORT=$(CURDIR)/faults-report.md $(GO) test -tags '$(TAGS)' -count=1 -run '^TestFaultInjection$$' -v -timeout 6h ./tests/

## unit: the quick suite: no PostgreSQL, no Dendrite (database tests run on SQLite only, end-to-end
## tests are skipped under -short), no race detector (make test has it; TESTFLAGS=-race adds it here).
## Well under a minute once the build cache is warm.
unit:
	$(GO) test -tags '$(TAGS)' -short -count=1 -timeout 5m $(TESTFLAGS) ./...

## lint: gofmt, go vet and staticcheck (installed into .cache/tools on first use).
lint: vet $(STATICCHECK)
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt wants to change:"; echo "$$unformatted"; exit 1; fi
	$(STATICCHECK) -tags '$(TAGS)' ./...

vet:
	$(GO) vet -tags '$(TAGS)' ./...

$(STATICCHECK):
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

deps: dendrite
	$(GO) mod download

dendrite:
	./scripts/install-dendrite.sh

postgres:
	./scripts/ensure-postgres.sh

## build: the bridge (./matrix-whatsapp) and the WhatsApp simulator server (./wasim-server; the
## name wasim is taken by the simulator's package folder) into the repository root.
build:
	$(GO) build -tags '$(TAGS)' -ldflags "$(LDFLAGS)" -o matrix-whatsapp ./cmd/matrix-whatsapp
	@if ls cmd/wasim/*.go >/dev/null 2>&1; then \
		echo "$(GO) build -o wasim-server ./cmd/wasim"; $(GO) build -o wasim-server ./cmd/wasim; \
	else \
		echo "cmd/wasim has no Go files yet; not built"; \
	fi

## static: the statically linked binary the container image holds (CGO_ENABLED=0, as in the
## Dockerfile) as ./matrix-whatsapp-static, checked to run. Container images cannot be pulled on
## every machine; this (and the test in cmd/matrix-whatsapp) checks what the image would contain.
## nodynamic: the WebP encoder for stickers (github.com/gen2brain/webp) then never loads a system
## libwebp, which would make the binary dynamically linked; it runs its WebAssembly build instead.
static:
	CGO_ENABLED=0 $(GO) build -tags '$(TAGS) nodynamic' -trimpath -ldflags "-s -w $(LDFLAGS)" -o matrix-whatsapp-static ./cmd/matrix-whatsapp
	./matrix-whatsapp-static -version

## bench: every benchmark without the race detector (the bridge binary the end-to-end ones start is
## built the same way): the in-process ones for BENCHTIME each, the homeserver ceiling for
## E2E_BENCHTIME rounds, then BenchmarkPerformance once (6 to 10 minutes on 2 cores with a warm
## build cache), whose table is written to BENCH_REPORT.md and printed last, its figures to
## BENCH_REPORT.json.
bench: deps postgres
	$(GO) test -tags '$(TAGS)' -run '^$$' -bench . -benchtime $(BENCHTIME) -benchmem -timeout 30m $(INPROCESS_BENCH_PKGS)
	$(GO) test -tags '$(TAGS)' -run '^$$' -bench '^BenchmarkHomeserverCeiling$$' -benchtime $(E2E_BENCHTIME) -timeout 10m ./internal/e2e
	E2E_BRIDGE_RACE= BENCH_REPORT=$(BENCH_REPORT) $(GO) test -tags '$(TAGS)' -run '^$$' -bench '^BenchmarkPerformance$$' -benchtime 1x -timeout 30m ./tests
	@echo; cat $(BENCH_REPORT).md

## demo: Dendrite, the WhatsApp simulator and the bridge on loopback with a linked phone and an echoing contact (state in demo-data/); Ctrl-C stops everything.
demo:
	./scripts/demo.sh

clean:
	rm -f matrix-whatsapp matrix-whatsapp-static wasim-server
