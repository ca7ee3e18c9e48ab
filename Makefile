# Fresh-machine entry points. `make demo` and `make test` each set up .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1

.PHONY: venv demo test bench train-small train-motion clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

demo: venv
	$(VENV)/bin/interanimate demo

test: venv
	$(PY) -m pytest -q -p no:cacheprovider tests

bench: venv
	$(PY) benchmarks/synth_speed.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
