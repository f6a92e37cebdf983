# Every target creates .venv and installs the project into it first when needed,
# so a fresh machine needs only Python >= 3.11 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test serve demo lint format bench bench-service clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tokenizers-zoo needs Python >= 3.11, found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "could not create $(VENV): on Debian, apt-get install python3-venv"; exit 1; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/pytest

# The main job: the REST service with the shipped default tokenizers on 127.0.0.1:8000
# (TZOO_* variables or `tzoo serve --help` flags change that).
serve: $(STAMP)
	$(BIN)/tzoo serve

demo: $(STAMP)
	$(BIN)/tzoo demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/check_layers.py

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/tzoo bench quantizers --out benchmarks/results/quantizers-cpu

bench-service: $(STAMP)
	$(BIN)/tzoo bench service --tokenizer image-fsq-f8-4k --torch-threads 1 --out benchmarks/results/service-cpu-image-fsq-f8-4k

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
