# hilcal — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck contracts pytest bench fuzz faults validate clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/hilcal run

lint: $(STAMP)
	$(BIN)/ruff check controller drivers sequences simulators geometry dosimetry validation records tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy controller drivers sequences simulators geometry dosimetry validation records

contracts: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint typecheck contracts pytest

# The peers compared side by side (bluesky + ophyd, QCoDeS) come in the bench extra, never with `make test`.
# BENCH_ARGS=--quick keeps the peer comparison to 100-point scans.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

# The full blind validation campaign (every scenario, 200 rigs each; see docs/validation.md), then the
# "Latest full campaign" tables of docs/validation.md regenerated from it. Exits non-zero if the gate fails.
VALIDATE_RIGS ?= 200
validate: $(STAMP)
	$(BIN)/hilcal validate --rigs $(VALIDATE_RIGS) --out runs/validation/full; status=$$?; \
	$(BIN)/python -m validation.report runs/validation/full docs/validation.md && exit $$status

fuzz: $(STAMP)
	$(BIN)/python tests/fuzz/run.py

# Every sequence × every fault of issue 10 (docs/faults.md); prints the cells that hold out of the total.
faults: $(STAMP)
	$(BIN)/python tests/faults/run.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
