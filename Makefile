# emgan: the two commands of the README are `make demo` and `make test`.
#
# Setup creates .venv, installs PyTorch (TORCH, default the CPU build torch==2.13.0) unless the
# venv already has a torch, then emgan-core and every plugin under plugins/ in editable mode.
# GPU users: put your CUDA build of torch into .venv first (see README), setup keeps it.

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
OUT    ?= out
BIN     = $(VENV)/bin
PLUGINS = $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
STAMP   = $(VENV)/.emgan-installed

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install "$(TORCH)"
	$(BIN)/python -m pip install -e ".[test]" $(foreach p,$(PLUGINS),-e $(p))
	touch $@

# The main job on the bundled example data: simulate 8I2H at 2 Å and at 4 Å on the same grid,
# then compare the two maps.
demo: setup
	mkdir -p $(OUT)
	$(BIN)/emgan simulate gaussian examples/data/8i2h_ref.pdb -o $(OUT)/8i2h_2A.mrc resolution=2.0 voxel_size=1.0
	$(BIN)/emgan simulate gaussian examples/data/8i2h_ref.pdb -o $(OUT)/8i2h_4A.mrc resolution=4.0 --on-grid $(OUT)/8i2h_2A.mrc
	$(BIN)/emgan eval $(OUT)/8i2h_4A.mrc $(OUT)/8i2h_2A.mrc --metrics ssim,correlation,correlation-about-mean,pearson,pcc,fsc

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/simulate_gaussian.py
	$(BIN)/python benchmarks/trainer_overhead.py

clean:
	rm -rf $(OUT) .pytest_cache
