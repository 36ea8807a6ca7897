# `make test` and `make demo` work on a fresh machine: both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv accelerated lint test demo bench bench-deps bench-flume chaos soak clean

$(BIN)/zflume: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(BIN)/zflume

LINT_DEPS := $(VENV)/.lint-deps

$(LINT_DEPS): requirements-lint.txt $(BIN)/zflume
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-lint.txt
	touch $@

# The hot Avro modules compiled by mypyc (proto/accelerated.py): used only while they match the
# sources. Without a C compiler this warns and the plain Python modules run, only slower.
ACCELERATED := build/mypyc/SOURCES

$(ACCELERATED): $(LINT_DEPS) $(shell find proto -name '*.py')
	$(BIN)/python -W ignore -m proto.accelerated build \
		|| echo "warning: the Avro modules were not compiled; plain Python runs (slower)"

accelerated: $(ACCELERATED)

# ruff and mypy over the shipped code (settings in pyproject.toml); `make test` runs it first.
lint: $(LINT_DEPS)
	$(BIN)/ruff check services proto deploy
	$(BIN)/mypy

test: lint $(ACCELERATED)
	$(BIN)/pytest -q

demo: venv $(ACCELERATED)
	mkdir -p var/demo
	mkdir -p -m 0700 var/run var/run/demo
	$(BIN)/supervisord -n -c supervisord.conf

# The long chaos runs (tests/chaos): many more events and faults than the short form in `make test`.
chaos: venv $(ACCELERATED)
	ZFLUME_CHAOS=long $(BIN)/pytest -q tests/chaos

# The soak (tests/soak/run.py): two fleets with file channels, with and without dedupe, an hour
# at 20,000 lines/s under a fault every 10 s; lost events, duplicates, RSS and fd slopes.
# SOAK_MINUTES=3 for the short form.
SOAK_MINUTES ?= 60
soak: venv $(ACCELERATED)
	$(BIN)/python -m tests.soak.run --minutes $(SOAK_MINUTES)

# Benchmarks print figures (no assertions); two_tier also saves them to bench/results/.
# bench: zflume alone. bench-flume: the same plus real Flume 1.11.0 (../shared/peer, or
# FLUME_PEER=DIR; skipped with a message when absent) side by side, and the chart.
BENCH_DEPS := $(VENV)/.bench-deps

$(BENCH_DEPS): bench/requirements.txt $(BIN)/zflume
	$(BIN)/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

bench-deps: $(BENCH_DEPS)

bench: venv $(ACCELERATED)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.two_tier --latency --gaps

bench-flume: venv $(ACCELERATED) $(BENCH_DEPS)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.two_tier --flume --latency --gaps
	$(BIN)/python -m bench.chart

clean:
	rm -rf $(VENV) var build
