# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
OUT     ?= out

.PHONY: install demo test test-all bench lint format clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# torch is pinned to the local CPU build first, so nothing pulls a CUDA build later.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,ray]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/signals network build pilot-zone --out $(OUT)/networks/pilot-zone
	$(BIN)/signals run experiments/quickstart.toml --out $(OUT)/quickstart

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ''

# Every benchmark JSON (benchmarks/run_all.sh), then the README tables from them; the tables are
# regenerated after a failed benchmark too (the others wrote new JSON), and make still fails.
bench: $(STAMP)
	$(BIN)/pip install -q --no-deps sumo-rl==1.4.5  # RESCO nets for bench realnets, calibration, accuracy; never committed
	bash benchmarks/run_all.sh; status=$$?; \
	$(BIN)/python benchmarks/tables.py || status=1; \
	$(BIN)/python benchmarks/figures.py || status=1; exit $$status

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(OUT) .pytest_cache
