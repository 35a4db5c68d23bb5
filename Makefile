# Build, test and demo entry points. `make test` is what CI runs (.ci/run).

GO        ?= go
# Extra flags for go test, e.g. TESTFLAGS='-run TestX -v' or TESTFLAGS='-parallel 4'.
TESTFLAGS ?=
# How long each in-process benchmark runs (go test -benchtime).
BENCHTIME ?= 2s
# How many rounds the end-to-end benchmarks run (each round: 40 messages each way through a real
# Dendrite and bridge); a time would let go test grow the rounds until the room holds thousands.
E2E_BENCHTIME ?= 5x
E2E_BENCH_PKGS := ./internal/e2e ./tests

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

.PHONY: all test unit lint vet deps dendrite postgres build static bench demo clean

all: build

## test: install what the tests need, start PostgreSQL, lint, and run every test with the race detector.
## Packages run one after another (-p 1): the simulator's tests and the end-to-end tests each keep
## both cores busy, and running them side by side on a 2-core machine only makes them wait on timers.
test: deps postgres lint
	$(GO) test -race -count=1 -p 1 -timeout 20m $(TESTFLAGS) ./...

## unit: the quick suite: no PostgreSQL, no Dendrite (database tests run on SQLite only, end-to-end
## tests are skipped under -short), no race detector (make test has it; TESTFLAGS=-race adds it here).
## Well under a minute once the build cache is warm.
unit:
	$(GO) test -short -count=1 -timeout 5m $(TESTFLAGS) ./...

## lint: gofmt, go vet and staticcheck (installed into .cache/tools on first use).
lint: vet $(STATICCHECK)
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt wants to change:"; echo "$$unformatted"; exit 1; fi
	$(STATICCHECK) ./...

vet:
	$(GO) vet ./...

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
	$(GO) build -ldflags "$(LDFLAGS)" -o matrix-whatsapp ./cmd/matrix-whatsapp
	@if ls cmd/wasim/*.go >/dev/null 2>&1; then \
		echo "$(GO) build -o wasim-server ./cmd/wasim"; $(GO) build -o wasim-server ./cmd/wasim; \
	else \
		echo "cmd/wasim has no Go files yet; not built"; \
	fi

## static: the statically linked binary the container image holds (CGO_ENABLED=0, as in the
## Dockerfile) as ./matrix-whatsapp-static, checked to run. Container images cannot be pulled on
## every machine; this (and the test in cmd/matrix-whatsapp) checks what the image would contain.
static:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o matrix-whatsapp-static ./cmd/matrix-whatsapp
	./matrix-whatsapp-static -version

## bench: run every benchmark (in-process ones for BENCHTIME, end-to-end ones for E2E_BENCHTIME rounds) and print the figures.
bench: deps postgres
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -benchmem -timeout 30m $$($(GO) list ./... | grep -v -e '/internal/e2e$$' -e '/tests$$')
	$(GO) test -run '^$$' -bench . -benchtime $(E2E_BENCHTIME) -benchmem -timeout 30m $(E2E_BENCH_PKGS)

## demo: Dendrite, the WhatsApp simulator and the bridge on loopback with a linked phone and an echoing contact (state in demo-data/); Ctrl-C stops everything.
demo:
	./scripts/demo.sh

clean:
	rm -f matrix-whatsapp matrix-whatsapp-static wasim-server
