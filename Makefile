# One-command set-up on a fresh machine (Python 3.11, pip, gcc).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export MUJOCO_GL ?= egl
# Where torch comes from. Empty: pip's own configuration (PyPI serves the CUDA build on x86-64 Linux).
# CPU-only machine: make install TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=

.PHONY: install demo test test-slow lint typecheck bench clean annotate-model check-lerobot

# CI-optional: dexego installed beside lerobot 0.4.4 in ONE environment (lerobot holds torch < 2.11, so not
# the main venv); runs the data and serve tests there, and the slow tests that use LeRobot's own edit tools.
LEROBOT_VENV ?= .venv-lerobot

$(BIN)/dexego: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -c constraints.txt "torch==2.13.0" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install -c constraints.txt -e ".[dev]"
	# robosuite's robot hand descriptions (MJCF + meshes), read as files and never imported: --no-deps keeps its own
	# dependencies (opencv-python beside our headless build, numba, pynput, a pinned mink) out (docs/retarget.md).
	$(BIN)/pip install --no-deps "robosuite==1.5.2"
	$(BIN)/pip install --no-deps "openpi-client==0.1.2"  # the real openpi client the serve tests run; --no-deps: see pyproject's dev extra
	# Project Aria's own library, the counterpart the HOT3D tests check camera models against (the 'aria' extra reads VRS
	# video with it); --no-deps keeps its notebook and viewer dependencies (jupyter, an older pillow and rerun) out.
	$(BIN)/pip install --no-deps "projectaria-tools==2.3.0"
	@! $(BIN)/pip show torchvision >/dev/null 2>&1 || (echo "torchvision must not be installed" && exit 1)
	touch $(BIN)/dexego

install: $(BIN)/dexego

demo: install
	$(BIN)/dexego demo --quick --out runs/demo

test: install
	$(BIN)/python -m pytest -q

test-slow: install
	$(BIN)/python -m pytest -q -m slow

lint: install  # the rules are in pyproject.toml ([tool.ruff.lint])
	$(BIN)/ruff check src tests benchmarks experiments docs
	$(BIN)/ruff format --check src tests benchmarks experiments docs

typecheck: install  # the checked packages and settings are in pyproject.toml ([tool.mypy])
	$(BIN)/mypy

annotate-model: install  # the MediaPipe hand landmarker bundle for `dexego annotate` (docs/annotate.md)
	$(BIN)/pip install -c constraints.txt -e ".[annotate]"
	$(BIN)/python -m dexego.annotate.estimators.fetch_model

$(LEROBOT_VENV)/bin/lerobot-edit-dataset:
	$(PYTHON) -m venv $(LEROBOT_VENV)
	$(LEROBOT_VENV)/bin/pip install "lerobot==0.4.4"

check-lerobot: $(LEROBOT_VENV)/bin/lerobot-edit-dataset
	$(LEROBOT_VENV)/bin/pip install -e ".[dev]" "lerobot==0.4.4"
	$(LEROBOT_VENV)/bin/pip install --no-deps "openpi-client==0.1.2"  # as in install: the serve tests run the real client
	@! $(LEROBOT_VENV)/bin/pip show torchvision >/dev/null 2>&1 || echo "note: torchvision comes with lerobot here"
	$(LEROBOT_VENV)/bin/python -c "import lerobot, torch, dexego; print('lerobot', lerobot.__version__, 'torch', torch.__version__)"
	DEXEGO_LEROBOT_PYTHON=$(abspath $(LEROBOT_VENV))/bin/python $(LEROBOT_VENV)/bin/python -m pytest -q tests/data tests/serve \
		tests/sources/test_sources_lerobot_interop.py -m "slow or not slow"

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
