# Every target sets itself up: on a fresh machine with only Python 3.11+, `make lab` and
# `make test` create .venv and install the project (again when pyproject.toml changes).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test app student bench clean-venv

# The workbook runs on JupyterLab's own defaults (jupyter-config/README.md): the setting
# override earlier versions installed is removed from an existing .venv.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.d/jarvis.json

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	rm -f $(LAB_OVERRIDES)
	@touch $(STAMP)

# Jupyter refuses to run as root unless told; containers and CI machines often are root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
LAB_ARGS ?=

lab: $(STAMP)  ## open the workbook in JupyterLab (extra options: make lab LAB_ARGS="--no-browser --port 8899")
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP)  ## the linter (ruff), then the whole suite: unit, doctests, notebooks (nbval), database and browser tests
	@# both always run (a lint finding must not hide the test results); either failing fails
	$(BIN)/ruff check . ; lint=$$? ; $(BIN)/python -m pytest ; tests=$$? ; \
	  if [ $$lint -ne 0 ]; then echo "ruff check . found problems (see above)"; fi ; \
	  [ $$lint -eq 0 ] && [ $$tests -eq 0 ]

app: $(STAMP)  ## the dashboard as a web app, on the replay feed
	$(BIN)/jarvis serve --feed replay

student: $(STAMP)  ## regenerate notebooks/unsolved/ from the solved notebooks
	$(BIN)/python scripts/make_student.py

bench: $(STAMP)  ## side-by-side benchmarks (installs the benchmarks-only extra)
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
