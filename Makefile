# emgan: the two commands of the README are `make demo` and `make test`.
#
# Setup creates .venv, installs PyTorch (TORCH, default the CPU build torch==2.13.0) unless the
# venv already has a torch, then emgan-core and every plugin under plugins/ in editable mode.
# GPU users: put your CUDA build of torch into .venv first (see README), setup keeps it.

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
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

# The main job (struc2mapGAN quickstart) on the bundled example data, in out/: curate the map-model
# pairs, train a reduced-width model for a few CPU minutes, generate the map of the held-out model
# on its experimental map's grid, and write the report comparing it with the Gaussian baselines.
demo: setup
	rm -rf out/struc2mapgan-run
	$(BIN)/emgan struc2mapgan curate examples/data/struc2mapgan_pairs.csv -o out/curated
	$(BIN)/emgan run struc2mapgan-quickstart -o out/struc2mapgan-run
	$(BIN)/emgan struc2mapgan generate examples/data/emringerweb_test_model.pdb --ckpt out/struc2mapgan-run \
		--ref-map examples/data/emringerweb_test_map.ccp4 -o out/emringer_struc2mapgan.mrc
	$(BIN)/emgan bench benchmarks/struc2mapgan/quickstart.yaml -o out/struc2mapgan-report
	cat out/struc2mapgan-report/report.md

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/simulate_gaussian.py
	$(BIN)/python benchmarks/trainer_overhead.py
	test ! -f ../shared/data/pretrained/emgan_G_model || \
		$(BIN)/python benchmarks/superem_infer.py --weights ../shared/data/pretrained/emgan_G_model

clean:
	rm -rf out .pytest_cache
