# skmobile: `make demo` sets everything up and runs the main job; `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
FMNIST := /usr/share/datasets/fashion-mnist

.PHONY: setup data test demo clean

setup: $(STAMP)

# The stamp depends on pyproject.toml, so `make setup` is idempotent and re-installs on change.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# Fashion-MNIST from Debian's dataset-fashion-mnist package, installed when missing and apt is usable.
data:
	@bash tools/ensure-data.sh

test: setup
	$(PY) -m pytest -q -n 2 --dist loadgroup

# The main job: the Optuna search over SKNet-50's SK unit (6 trials, Fashion-MNIST proxy) into
# runs/skmobile.db; rerunning continues the same study. Then its report (Pareto fronts, best
# configurations, importances, paper rows) into runs/report-ablation/, whose path it prints.
# Open the study with `optuna-dashboard sqlite:///runs/skmobile.db`.
demo: setup data
	$(VENV)/bin/skmobile search --space ablation
	$(VENV)/bin/skmobile report --study ablation --out runs/report-ablation

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
