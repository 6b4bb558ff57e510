# Every target sets up .venv first (from scratch on a fresh machine), then runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup data train demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

# Fashion-MNIST from Debian's package where we may install it; elsewhere deepgrad's loader
# downloads it (checked) into ~/.cache/deepgrad on first use.
data:
	@test -d /usr/share/datasets/fashion-mnist || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& (apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
		    || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1)) \
		|| echo "note: dataset-fashion-mnist not installed; the loader will try to download"; }

# The main job: train the flagship CNN on Fashion-MNIST and evaluate it on the test set.
train: setup data
	$(VENV)/bin/deepgrad train --model cnn --dataset fashion-mnist --epochs 20 --dropout 0 --out runs/cnn

demo: setup
	$(PY) examples/two_layer_toy.py

test: setup data
	$(PY) -m pytest -q -n 2

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache
