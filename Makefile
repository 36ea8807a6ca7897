# `make test` and `make demo` work on a fresh machine: both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv test demo bench chaos clean

$(BIN)/zflume: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(BIN)/zflume

test: venv
	$(BIN)/pytest -q

demo: venv
	mkdir -p var/demo
	mkdir -p -m 0700 var/run var/run/demo
	$(BIN)/supervisord -n -c supervisord.conf

# The long chaos runs (tests/chaos): many more events and faults than the short form in `make test`.
chaos: venv
	ZFLUME_CHAOS=long $(BIN)/pytest -q tests/chaos

bench: venv
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) var
