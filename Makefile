# xbot: `make run` starts the shadow demo, `make test` runs all tests.
SHELL := /bin/bash
GO ?= go
BIN := bin/xbot
# Every target that needs PostgreSQL asks scripts/db.sh for a URL that answers (see README).
DB_URL = $$(scripts/db.sh)

.PHONY: build run test test-short bench lint db chaos clean browser pgbouncer

build:
	$(GO) build -o $(BIN) ./cmd/xbot

db:
	@scripts/db.sh

run: build
	@url=$(DB_URL) && DATABASE_URL="$$url" ./$(BIN) dev

test: browser pgbouncer
	@url=$(DB_URL) && DATABASE_URL="$$url" $(GO) test -race -count=1 -timeout 15m ./...

# The status page's browser test needs Chromium: installed here when missing and running as root.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1 || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; \
	else echo "Chromium is missing: run 'sudo apt-get install -y chromium' (the status page's browser test fails without it)"; fi

# The scale benchmark (README "Benchmarks") prints one `name value unit` line per figure, collected at the
# end; BENCH=raw|pipeline|lateness|failover|memory|learn|pgbouncer runs one part.
BENCH ?= .
bench: pgbouncer
	@mkdir -p bin
	@url=$(DB_URL) && DATABASE_URL="$$url" $(GO) test -run '^$$' -bench 'ReserveSettle' -benchmem -count=1 ./store
	@url=$(DB_URL) && DATABASE_URL="$$url" $(GO) test -run '^$$' -bench '^BenchmarkScale$$/$(BENCH)' -benchtime 1x -count=1 \
		-timeout 60m ./cmd/xbot | tee bin/bench.out
	@echo "== figures (name value unit) =="; grep -E '^[a-z][a-z0-9_]* [-0-9.e+]+( [^ ]+)?$$' bin/bench.out

# PgBouncer (Debian's package) for the connection-budget benchmark and its test; installed when missing.
pgbouncer:
	@command -v pgbouncer >/dev/null || test -x /usr/sbin/pgbouncer || \
		(apt-get install -y pgbouncer >/dev/null 2>&1 || (apt-get update >/dev/null && apt-get install -y pgbouncer >/dev/null)) || \
		echo "pgbouncer missing and could not be installed: the PgBouncer test will fail"

# The full fault suite (issue: fleet reliability): real binaries, 3 worker replicas, kills, simulator faults,
# a PostgreSQL restart on a throwaway cluster. A reduced version runs inside `make test`.
chaos: build
	@url=$(DB_URL) && DATABASE_URL="$$url" $(GO) test -count=1 -timeout 60m -run 'TestChaos' ./internal/chaos -v -chaos.full

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin
