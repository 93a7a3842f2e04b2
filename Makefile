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
	$(PY) -m jobs team-means sample_data --manifest sample_data/manifest.csv --group-by party \
		--landmarks out/sample/landmarks.csv --out out/sample/means
	$(PY) -m jobs morph-movie sample_data --manifest sample_data/manifest.csv --group Republican \
		--landmarks out/sample/landmarks.csv --seconds-per-face 1.2 --out out/sample/republicans.mp4
	@echo
	@echo "Results in out/sample/:"
	@echo "  landmarks.csv, report.csv, overlays/   68 landmarks for every portrait (bulk-label)"
	@echo "  means/<party>.png, means/comparison.png  mean face per party and the grid (team-means)"
	@echo "  republicans.mp4                          morph movie through one group (morph-movie)"

test: $(STAMP)
	$(PY) -m pytest -q --durations=10

clean:
	rm -rf out .pytest_cache
