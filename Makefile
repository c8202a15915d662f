# raaft: the two commands a new user runs are `make run` and `make test`.
# Everything they need is built or installed here (Go comes with the machine).

SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
STATICCHECK := $(BIN)/staticcheck
STATICCHECK_VERSION := v0.8.2
# Bounds for the test run: CI has 90 minutes, `make test` stays under 15 on 2 cores.
TEST_TIMEOUT ?= 14m
export QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING ?= true

.PHONY: image all build run test lint vet fmt-check staticcheck lint-determinism test-go bench chaos fuzz clean tools chromium compose screenshots

all: build

# -buildvcs=auto: stamp the git revision into the binary (raaft version,
# raaft_build_info) even where GOFLAGS turns it off; skipped without git
build:
	$(GO) build -buildvcs=auto -o $(BIN)/raaft ./cmd/raaft

## run: a local federation of three agencies with demo data (raaft dev up)
run: build
	$(BIN)/raaft dev up --agencies 3 --dir $(CURDIR)/.raaft-dev

## test: vet, gofmt, staticcheck, the determinism lint, then every test with -race
test: lint test-go

lint: vet fmt-check staticcheck lint-determinism

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

tools: $(STATICCHECK)

$(STATICCHECK):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

## lint-determinism: the FSM may not read clocks, use randomness or range over maps
lint-determinism:
	$(GO) test -count=1 -run 'TestDeterminismLint' ./ledger/

test-go: chromium compose
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

## chromium: the web console's browser test drives Debian's Chromium; install it when missing
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v "$$RAAFT_CHROMIUM" >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the browser test"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

## compose: the compose test drives Debian's docker-compose against the machine's Docker engine
compose:
	@docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 || { \
		echo "installing Debian's docker-compose for the compose test"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq docker-compose >/dev/null; }

## screenshots: refresh docs/screenshots from the browser test (a real dev up federation)
screenshots: chromium
	RAAFT_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run TestConsoleInBrowser ./cmd/raaft/

## bench: benchmarks; raw output in docs/bench-raw.txt, figures in docs/BENCHMARKS.md
bench:
	$(GO) test -run XXX -bench . -benchtime 3s -timeout 30m ./ledger/ | tee docs/bench-raw.txt
	RAAFT_TEST_FSYNC=1 $(GO) test -run XXX -bench 'Propose|StoreLogs' -benchtime 1000x ./consensus/ | tee -a docs/bench-raw.txt
	$(GO) test -run XXX -bench Cluster -benchtime 5000x -timeout 20m ./cmd/raaft/ | tee -a docs/bench-raw.txt
	$(GO) test -run XXX -bench RebuildInPlace -benchtime 1x -timeout 15m ./cmd/raaft/ | tee -a docs/bench-raw.txt

## chaos: the long randomized runs (bounded: they stop by themselves)
chaos:
	RAAFT_PROPERTY_COMMANDS=200000 $(GO) test -count=1 -timeout 60m -run 'TestProperty' ./ledger/
	RAAFT_CHAOS_SECONDS=120 $(GO) test -count=1 -timeout 20m -run 'TestLinearizableHoldsUnderPartitions' ./consensus/

## fuzz: each fuzz target for FUZZTIME
FUZZTIME ?= 60s
fuzz:
	for f in FuzzDecodeCommand FuzzDecodeFast FuzzJWS FuzzGenesis FuzzReconcile FuzzVerifyKey FuzzDecodeEntryValue FuzzRecordCodec; do \
		$(GO) test -run XXX -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./ledger/ || exit 1; done
	$(GO) test -run XXX -fuzz '^FuzzDecodeRPC$$' -fuzztime $(FUZZTIME) ./consensus/

clean:
	rm -rf $(BIN) .raaft-dev

## image: the node container image (static binary on scratch)
image:
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -trimpath -o deploy/raaft ./cmd/raaft
	docker build -t raaft:dev deploy
