# viewlog: see README.md.
GO      ?= go
BIN     ?= bin
COMPOSE ?= docker compose

.PHONY: all build run-local run-local-fresh query dashboard-vendor dashboard-screenshot test vet unit bench fuzz up down logs ps clean

all: build

## build: the three binaries into bin/ (no C compiler needed; cmd/viewlog is built by `make query`)
build:
	$(GO) build -o $(BIN)/ ./cmd/devbroker ./cmd/producer ./cmd/consumer

## run-local: development broker + producer + consumer, output in data/output_data, until Ctrl-C;
## the broker keeps its state in data/devbroker, so the next run finishes the windows left open
## (FRESH=1 starts from an empty topic); dashboard on http://127.0.0.1:8080/
run-local: build
	./scripts/run-local.sh

## run-local-fresh: run-local from an empty broker (removes data/devbroker; the output stays)
run-local-fresh: build
	FRESH=1 ./scripts/run-local.sh

## query: the latest windows in OUTPUT_DIR, read with DuckDB (cgo: needs a C compiler), e.g. make query ARGS='-since 30m -campaign 40 -format csv'
ARGS ?=
query:
	@CGO_ENABLED=1 $(GO) build -o $(BIN)/viewlog ./cmd/viewlog
	@./$(BIN)/viewlog query $(ARGS)

## dashboard-vendor: refresh the dashboard's copy of uPlot from npm (UPLOT_VERSION)
UPLOT_VERSION ?= 1.6.32
UPLOT_DIR     := internal/dashboard/assets/uplot
dashboard-vendor:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	npm pack --silent --pack-destination "$$tmp" uplot@$(UPLOT_VERSION) >/dev/null && \
	tar -xzf "$$tmp"/uplot-*.tgz -C "$$tmp" && \
	mkdir -p $(UPLOT_DIR) && \
	cp "$$tmp/package/dist/uPlot.iife.min.js" "$$tmp/package/dist/uPlot.min.css" "$$tmp/package/LICENSE" $(UPLOT_DIR)/ && \
	version=$$(node -p "require(process.argv[1]).version" "$$tmp/package/package.json") && \
	license=$$(node -p "require(process.argv[1]).license" "$$tmp/package/package.json") && \
	printf '%s\n' \
		"uPlot $$version, npm package uplot, licence $$license (see LICENSE)." \
		"Files: dist/uPlot.iife.min.js, dist/uPlot.min.css, LICENSE, unmodified." \
		"Refresh: make dashboard-vendor UPLOT_VERSION=<version>" > $(UPLOT_DIR)/VERSION && \
	echo "vendored uplot $$version into $(UPLOT_DIR)"

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
	$(GO) test ./internal/campaigns -run '^$$' -fuzz '^FuzzDecodeIDs$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/consumer -run '^$$' -fuzz '^FuzzDecodeCheckpoint$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/producer -run '^$$' -fuzz '^FuzzAppendView$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/location -run '^$$' -fuzz '^FuzzParseLocation$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/storage -run '^$$' -fuzz '^FuzzLocalPath$$' -fuzztime $(FUZZTIME)

## dashboard-screenshot: docs/dashboard.png from a real run (headless Chromium; npm ci --prefix tools/pagecheck first)
dashboard-screenshot:
	VIEWLOG_SCREENSHOT_DIR=$(CURDIR)/docs VIEWLOG_REQUIRE_BROWSER=1 $(GO) test -count=1 -run '^TestDashboardLive$$' ./internal/e2e
	mv docs/dashboard-live.png docs/dashboard.png

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
