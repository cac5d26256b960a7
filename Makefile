# rtcctl build, test and demo targets. Every target that compiles first makes sure the
# Debian packages it needs are present (scripts/deps.sh is idempotent and fast when they are).
GO        ?= go
BIN       := bin/rtcctl
PKG       := ./cmd/rtcctl
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
export CGO_ENABLED := 1

.PHONY: all build deps mod test test-short lint bench bench-load demo clean fuzz smoke-deploy natlab

all: build

deps:
	./scripts/deps.sh

mod:
	$(GO) mod download

build: deps mod
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) $(PKG)

lint: deps mod
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The whole suite, real components, race detector on. CI runs exactly this.
test: lint build
	$(GO) test -race -count=1 -timeout 25m ./...

test-short: deps mod
	$(GO) test -count=1 -timeout 25m ./...

fuzz: deps mod
	$(GO) test ./internal/signal -run '^$$' -fuzz FuzzDecode -fuzztime 30s

# One package at a time (-p 1): benchmarks of two packages running at once on 2 cores
# measured each other (encoder sharing read 42% instead of 25% of a core).
bench: deps mod
	$(GO) test -p 1 -run '^$$' -bench . -benchtime 1x -timeout 30m ./...

bench-load: build
	./scripts/bench-load.sh

# serve + embedded TURN + a verified relay-only call, all on loopback.
demo: build
	./scripts/demo.sh

# nginx wss :8098 -> rtcctl serve :8099 + coturn :3478 on loopback: 75 s calls with and
# without keepalive, doctor green, then four faults named (~2.5 min). Needs those ports free.
smoke-deploy: build
	./scripts/smoke-deploy.sh

# Network-namespace NAT lab (root): symmetric vs endpoint-independent NATs, STUN vs TURN (~1 min).
natlab: build
	./scripts/natlab.sh

clean:
	rm -rf bin
