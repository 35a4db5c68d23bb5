# Build, test and demo entry points. `make test` is what CI runs (.ci/run).

GO        ?= go
# Extra flags for go test, e.g. TESTFLAGS='-run TestX -v' or TESTFLAGS='-parallel 4'.
TESTFLAGS ?=
# How long each benchmark runs (go test -benchtime).
BENCHTIME ?= 2s

.PHONY: all test vet deps dendrite postgres build bench demo clean

all: build

## test: install what the tests need, start PostgreSQL, vet, and run every test with the race detector.
test: deps postgres vet
	$(GO) test -race -count=1 -timeout 20m $(TESTFLAGS) ./...

vet:
	$(GO) vet ./...

deps: dendrite
	$(GO) mod download

dendrite:
	./scripts/install-dendrite.sh

postgres:
	./scripts/ensure-postgres.sh

## build: the bridge (./matrix-whatsapp) and the WhatsApp simulator server (./wasim-server; the
## name wasim is taken by the simulator's package folder) into the repository root.
build:
	$(GO) build -o matrix-whatsapp ./cmd/matrix-whatsapp
	@if ls cmd/wasim/*.go >/dev/null 2>&1; then \
		echo "$(GO) build -o wasim-server ./cmd/wasim"; $(GO) build -o wasim-server ./cmd/wasim; \
	else \
		echo "cmd/wasim has no Go files yet; not built"; \
	fi

## bench: run every benchmark once for BENCHTIME and print the figures.
bench: deps postgres
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -benchmem -timeout 30m ./...

## demo: Dendrite, the WhatsApp simulator and the bridge on loopback with a linked phone and an echoing contact (state in demo-data/); Ctrl-C stops everything.
demo:
	./scripts/demo.sh

clean:
	rm -f matrix-whatsapp wasim-server
