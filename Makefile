# The README's two commands: `make demo` and `make test`. Each creates .venv when it is missing.
# demo installs the core (labelling and morphing, no torch); test adds the extras the tests cover.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
CORE   := $(VENV)/.installed-core
DEV    := $(VENV)/.installed-dev

.PHONY: demo test lint install clean

$(CORE): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(CORE)

$(DEV): $(CORE)
	$(PY) -m pip install --quiet -e '.[test,train,serve,dask]'
	touch $(DEV)

install: $(DEV)

demo: $(CORE)
	$(VENV)/bin/morphkit bulk-label sample_data --out out/sample --overlay
	$(VENV)/bin/morphkit team-means sample_data --manifest sample_data/manifest.csv --group-by party \
		--landmarks out/sample/landmarks.csv --out out/sample/means
	$(VENV)/bin/morphkit morph-movie sample_data --manifest sample_data/manifest.csv --group Republican \
		--landmarks out/sample/landmarks.csv --seconds-per-face 1.2 --out out/sample/republicans.mp4
	@echo
	@echo "Results in out/sample/:"
	@echo "  landmarks.csv, report.csv, overlays/   68 landmarks for every portrait (bulk-label)"
	@echo "  means/<party>.png, means/comparison.png  mean face per party and the grid (team-means)"
	@echo "  means/index.html, republicans.html       the reports: open them in a browser"
	@echo "  republicans.mp4                          morph movie through one group (morph-movie)"

test: $(DEV) lint
	$(PY) -m pytest -q --durations=10

lint: $(DEV)  # style and bugs (ruff), the layers of docs/architecture.md (import-linter)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf out .pytest_cache
