# viewlog: see README.md.
GO      ?= go
BIN     ?= bin
COMPOSE ?= docker compose

.PHONY: all build run-local test vet unit bench fuzz up down logs ps clean

all: build

## build: the three binaries into bin/
build:
	$(GO) build -o $(BIN)/ ./cmd/...

## run-local: embedded broker + producer + consumer, output in data/output_data, until Ctrl-C
run-local: build
	./scripts/run-local.sh

## test: vet, then every test (unit, fuzz seeds, end-to-end against a broker process) with -race
test: vet
	$(GO) test -race -count=1 -timeout 12m ./...

vet:
	$(GO) vet ./...

## bench: the performance targets on default settings, one table (about 10 minutes; BENCHFLAGS=-quick for a short run)
BENCHFLAGS ?=
bench:
	$(GO) run ./scripts/bench $(BENCHFLAGS)

## fuzz: run each fuzz target for FUZZTIME (default 1m)
FUZZTIME ?= 1m
fuzz:
	$(GO) test ./internal/record -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/record -run '^$$' -fuzz '^FuzzDecodeMatchesReference$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/record -run '^$$' -fuzz '^FuzzParseTimestampMatchesReference$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/campaigns -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)

## up/down/logs/ps: the Docker Compose deployment
up:
	mkdir -p data/kafka data/output_data
	$(COMPOSE) up --build -d
down:
	$(COMPOSE) down
logs:
	$(COMPOSE) logs -f
ps:
	$(COMPOSE) ps

clean:
	rm -rf $(BIN)
