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

TEST_STAMP = $(VENV)/.emgan-test-installed
EXAMPLE_PLUGIN = $(shell find tests/example_plugin -type f -not -path '*/__pycache__/*' -not -path '*.egg-info*')

.PHONY: setup demo demo-train test bench docs clean

setup: $(STAMP)

# The tests' own set-up: the third-party example plugin, installed as a user would (not editable),
# again whenever its files change, so that no test installs anything while the suite runs.
$(TEST_STAMP): $(STAMP) $(EXAMPLE_PLUGIN)
	$(BIN)/python -m pip install -q --no-deps --force-reinstall --no-build-isolation tests/example_plugin
	touch $@

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install "$(TORCH)"
	$(BIN)/python -m pip install -e ".[test]" $(foreach p,$(PLUGINS),-e $(p))
	touch $@

# The main job, in out/: the shipped struc2mapGAN model (emgan models show struc2mapgan-small)
# generates the maps of the two held-out models bundled in examples/data, each on its experimental
# map's grid, and the report scores them against the experimental maps next to the Gaussian maps
# (molmap at 2 Å and at the map's resolution, TEMPy, EMAN2), the model's input alone and two
# controls that must lose. Outputs of an earlier demo are replaced (--overwrite): they are the demo's.
demo: setup
	mkdir -p out
	$(BIN)/emgan struc2mapgan generate examples/data/emringerweb_test_model.pdb --resolution 3.5 \
		--ref-map examples/data/emringerweb_test_map.ccp4 -o out/emringer_struc2mapgan.mrc --overwrite
	$(BIN)/emgan struc2mapgan generate examples/data/t20s_alpha_chainA.pdb --resolution 4.8 \
		--ref-map examples/data/t20s_48A_alpha_chainA.mrc -o out/t20s_struc2mapgan.mrc --overwrite
	$(BIN)/emgan bench benchmarks/struc2mapgan/quickstart.yaml -o out/struc2mapgan-report --overwrite
	cat out/struc2mapgan-report/report.md

# The training pipeline in a few CPU minutes (a check that it runs end to end, not a useful model):
# the quickstart curates the bundled map-model pairs on first use, into the emgan cache (masked to
# the model, ChimeraX correlation >= 0.65, sets split by 30 % sequence identity), trains a
# reduced-width struc2mapGAN on the train rows; then generate the map of the held-out model and score it.
demo-train: setup
	rm -rf out/struc2mapgan-run
	$(BIN)/emgan run struc2mapgan-quickstart -o out/struc2mapgan-run
	$(BIN)/emgan struc2mapgan generate examples/data/emringerweb_test_model.pdb --ckpt out/struc2mapgan-run \
		--ref-map examples/data/emringerweb_test_map.ccp4 -o out/emringer_struc2mapgan_quickstart.mrc --overwrite
	$(BIN)/emgan bench benchmarks/struc2mapgan/quickstart-train.yaml -o out/struc2mapgan-train-report --overwrite
	cat out/struc2mapgan-train-report/report.md

# In random order (pytest-randomly; it prints its seed, and `--randomly-seed=N` repeats
# an order), so that no test depends on another having run first.
test: setup $(TEST_STAMP)
	$(BIN)/python -m pytest -p randomly

# Every benchmark in one run (about 20 minutes on 2 CPU cores): each writes a record to out/bench/,
# then benchmarks/RESULTS.md and benchmarks/results.html collect them (a table per benchmark: emgan
# against its peer, the ratio, the machine and its load, the date). The struc2mapGAN generator runs on
# 16 boxes per case and its inference time is extrapolated to all boxes (a paper-width forward pass
# costs about a second per box on 2 cores); the denoising panel trains 40 steps per level, so it shows
# that the pipeline runs, not the method's quality. GPU figures: benchmarks/gpu_check.sh.
BENCH = out/bench
bench: setup
	mkdir -p $(BENCH) && rm -f $(BENCH)/*.json $(BENCH)/*.txt
	$(BIN)/python benchmarks/simulate_gaussian.py --json $(BENCH)/gaussian-simulation.json
	$(BIN)/python benchmarks/struc2mapgan_generate.py --cases 8i2h 10k --modes boxes,tiles --max-windows 16 \
		--batch-size 8 --json $(BENCH)/struc2mapgan-generate.json
	$(BIN)/python benchmarks/trainer_overhead.py --steps 30 --repeats 3 --json $(BENCH)/trainer-overhead.json
	test ! -f ../shared/data/pretrained/emgan_G_model || \
		$(BIN)/python benchmarks/superem_infer.py --weights ../shared/data/pretrained/emgan_G_model \
		--original-batch 8,32 --json $(BENCH)/superem-infer.json
	$(BIN)/python benchmarks/tiles_vs_windows.py $(if $(wildcard ../shared/data/pretrained/emgan_G_model),--weights \
		../shared/data/pretrained/emgan_G_model) --json $(BENCH)/tiles-vs-windows.json
	$(BIN)/python benchmarks/startup.py --repeat 3 --json $(BENCH)/startup.json
	$(BIN)/python benchmarks/many_inputs.py --count 50 --json $(BENCH)/many-inputs.json
	$(BIN)/python benchmarks/denoise_noise_panel.py --snr 0.3 --steps 40 --count 8 -o $(BENCH)/denoise-panel \
		--json $(BENCH)/denoise-panel.json
	PYTHON=$(BIN)/python benchmarks/gpu_check.sh --device cpu --tiny -o $(BENCH)
	$(BIN)/python benchmarks/report_page.py $(BENCH) --md benchmarks/RESULTS.md --html benchmarks/results.html

# The documentation site in site/ (mkdocs.yml): the pages of docs/ and the API reference, generated
# from the docstrings of every name of emgan_core.api. --strict: a broken link or cross-reference, or
# a docstring mkdocstrings cannot read, fails the build (tests/test_docs.py checks it too).
docs: setup
	$(BIN)/python -m mkdocs build --strict

clean:
	rm -rf out .pytest_cache
