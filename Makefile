# The README's two commands: `make demo` and `make test`. Each creates .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m jobs bulk-label sample_data --out out/sample --overlay --n-jobs 2
	@echo "Landmarks: out/sample/landmarks.csv  report: out/sample/report.csv  overlays: out/sample/overlays/"

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf out .pytest_cache
