# Fresh-machine entry points. `make demo` and `make test` each set up .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1

.PHONY: venv demo test test-full bench train-small train-hands train-motion clean
MOTION_DATA ?= runs/synthhf_motion16
DEVICE ?= cpu

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

demo: venv
	$(VENV)/bin/interanimate demo

test: venv
	$(PY) -m pytest -q -p no:cacheprovider -m "not full_width" tests

# The svd-xt-width tests (1.55 B parameters, random weights, CPU): equivalence with diffusers' UNet and one training
# step; each needs ~7 GiB of RAM and is skipped with less than 14 GiB free.
test-full: venv
	$(PY) -m pytest -q -p no:cacheprovider -m full_width tests

bench: venv
	$(PY) benchmarks/synth_speed.py

# Reproduce the bundled animation model: stage 1 (configs/train_small.yaml: data, seed, 19000 steps), stage 2
# (configs/train_small_stage2.yaml: to 26000 steps with more weight on the hand), then stage 3
# (configs/train_small_stage3.yaml: 4000 steps from stage 2's export with the identity a user has, identity dropout
# and keypoint masks); about 7 h on a 2-core CPU.
train-small: venv
	$(VENV)/bin/interanimate train --config configs/train_small.yaml --set device=$(DEVICE) --resume latest
	$(VENV)/bin/interanimate train --config configs/train_small_stage2.yaml --set device=$(DEVICE) --resume latest
	$(VENV)/bin/interanimate train --config configs/train_small_stage3.yaml --set device=$(DEVICE) --resume latest --export src/interanimate/assets/animate-small

# Stage 4 (docs/training.md, "A hand you can see"): 4a, the stage-3 model at 128x128 with the hand shape map, from
# stage 3's export (runs/small-stage3/final, which `make train-small` writes), exported as the bundled model (it
# samples from the hand prior); then 4b, the 4a model also conditioned on the hand prior (in training).
train-hands: venv
	$(VENV)/bin/interanimate train --config configs/train_small_hands.yaml --set device=$(DEVICE) --resume latest --export src/interanimate/assets/animate-small
	$(VENV)/bin/interanimate train --config configs/train_small_hand_prior.yaml --set device=$(DEVICE) --resume latest

# Reproduce the bundled motion model's recipe on SynthHF (hours on a CPU; use DEVICE=cuda where there is a GPU).
train-motion: venv
	$(VENV)/bin/interanimate synth --out $(MOTION_DATA) --identities 40 --clips-per-class 4 --frames 16 --size 64x64 --seed 0
	$(PY) -c "from interanimate.motion.data import MotionDataset as D; D.save_cache('$(MOTION_DATA)', '$(MOTION_DATA).npz')"
	$(VENV)/bin/interanimate motion train --config configs/motion_small.yaml --data $(MOTION_DATA).npz --output runs/motion_small --device $(DEVICE)
	$(VENV)/bin/interanimate motion evaluate --data $(MOTION_DATA).npz --model runs/motion_small --out runs/motion_small/report.json
	$(PY) -c "from interanimate.motion.model import MotionModel as M; M.load('runs/motion_small').save('src/interanimate/assets/motion', half=True)"

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
