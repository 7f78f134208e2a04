# Every target works on a fresh machine: it creates .venv, installs the CPU build of torch first (so that no CUDA
# wheels are pulled), then the package with its extras.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Where no local CPU wheel is found, pass e.g. TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu".
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
TRAIN_ARGS ?=

.PHONY: install train translation copy demo test test-floor test-newest test-other-kernels test-transformers-common test-all lint bench bench-ntm clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.torch-installed: | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch-installed
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# The main job: train the date-format model, evaluate it, save a Hub-ready folder, show predictions and a heatmap.
# (150,000 dates in ten languages; the fast preset reads every family and language at 99.85% or better after about
# 4 minutes on 2 cores: benchmarks/RESULTS.md, section 12.)
train: install
	$(BIN)/python -m training.train --task date --preset fast --num-examples 150000 --output-dir outputs/date-attention \
		$(TRAIN_ARGS)

# Multi30k in both directions (about 35 minutes each on 2 cores); MULTI30K is the data folder.
MULTI30K ?= ../shared/data/multi30k
MULTI30K_MORE_TESTS ?= test_2017_flickr test_2017_mscoco test_2018_flickr
translation: install
	$(BIN)/python -m training.train --task translation --dataset $(MULTI30K) --source-lang de --target-lang en \
		--test-split test_2016_flickr --extra-test-splits $(MULTI30K_MORE_TESTS) --preset translation \
		--output-dir outputs/mt-de-en $(TRAIN_ARGS)
	$(BIN)/python -m training.train --task translation --dataset $(MULTI30K) --source-lang en --target-lang de \
		--test-split test_2016_flickr --extra-test-splits $(MULTI30K_MORE_TESTS) --preset translation \
		--output-dir outputs/mt-en-de $(TRAIN_ARGS)

# The Neural Turing Machine and its LSTM baseline on the copy task: 15 minutes each, side by side on one thread each.
copy: install
	OMP_NUM_THREADS=1 $(BIN)/python -m training.train --task copy --preset ntm-feedforward --output-dir outputs/copy-ntm \
		--max-train-minutes 15 --set max_steps=10000000 $(TRAIN_ARGS) & ntm=$$!; \
	OMP_NUM_THREADS=1 $(BIN)/python -m training.train --task copy --preset lstm --output-dir outputs/copy-lstm \
		--max-train-minutes 15 --set max_steps=10000000 --allow-unconverged $(TRAIN_ARGS); lstm=$$?; \
	wait $$ntm && exit $$lstm

# The interactive demo on saved folders or Hub ids (several, space-separated, add a Compare tab): http://127.0.0.1:7860
MODEL ?= outputs/date-attention/model
demo: install
	$(BIN)/python -m hf_attn_seq2seq.demo $(MODEL)

# The default test run (slow tests excluded, see pyproject.toml), one pytest-xdist worker per core
# (PYTEST_WORKERS=0: one process).
PYTEST_WORKERS ?= auto
PYTEST_PARALLEL = -n $(PYTEST_WORKERS)
test: install
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)

# The suite on the oldest transformers the package supports (the floor in pyproject.toml), in its own venv.
FLOOR_VENV ?= .venv-floor
TRANSFORMERS_FLOOR := $(shell sed -n 's/.*"transformers>=\([0-9.]*\)".*/\1/p' pyproject.toml)

$(FLOOR_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(FLOOR_VENV)
	$(FLOOR_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(FLOOR_VENV)/bin/python -m pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(FLOOR_VENV)/bin/python -m pip install --quiet -e ".[test]" "transformers==$(TRANSFORMERS_FLOOR)"
	touch $@

test-floor: $(FLOOR_VENV)/.installed
	$(FLOOR_VENV)/bin/python -c "import transformers; assert transformers.__version__ == '$(TRANSFORMERS_FLOOR)'"
	$(FLOOR_VENV)/bin/python -m pytest $(PYTEST_PARALLEL)

# The tests that compare saved and reloaded models bit for bit (in one process and across processes), on other CPU
# kernels than this machine's defaults: MKL's SSE4.2 path, ATen without AVX, one thread. A model computes the same
# after a load on any x86 CPU only if these pass too.
OTHER_KERNELS := MKL_ENABLE_INSTRUCTIONS=SSE4_2 ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1
# torch.compile's on-disk cache is not keyed on ATEN_CPU_CAPABILITY: kernels built for this CPU's own capability by the
# default run would be reused and fail to build against the other headers, so these tests compile into their own cache.
test-other-kernels: install
	$(OTHER_KERNELS) TORCHINDUCTOR_CACHE_DIR=$$(mktemp -d) $(BIN)/python -m pytest tests/test_save_load.py \
		tests/test_ntm.py tests/test_peft.py tests/test_hub_pipeline.py tests/test_resume_and_ddp.py

# transformers' own common model tests (ModelTesterMixin) on this model, from the source distribution of the installed
# transformers release, downloaded once into .transformers-tests/ (tests/test_transformers_common.py says what runs).
TRANSFORMERS_TESTS ?= .transformers-tests
test-transformers-common: install
	version=$$($(BIN)/python -c "import transformers; print(transformers.__version__)"); \
	folder=$(TRANSFORMERS_TESTS)/$$version; \
	if [ ! -f $$folder/tests/test_modeling_common.py ]; then \
		rm -rf $$folder.download && mkdir -p $$folder.download && \
		$(BIN)/python -m pip download --quiet --no-deps --no-binary :all: "transformers==$$version" -d $$folder.download && \
		tar -xzf $$folder.download/transformers-$$version.tar.gz -C $$folder.download && \
		mkdir -p $$folder && mv $$folder.download/transformers-$$version/tests $$folder/tests && \
		rm -rf $$folder.download; \
	fi; \
	TRANSFORMERS_TESTS_DIR=$$folder/tests $(BIN)/python -m pytest tests/test_transformers_common.py -m "slow or not slow"

# The suite on the newest transformers release the package index serves today, installed fresh in its own venv (a
# release that breaks the package shows up here first). .ci/newest_transformers.py installs it and says which it is.
NEWEST_VENV ?= .venv-newest
test-newest:
	rm -rf $(NEWEST_VENV)
	$(PYTHON) -m venv $(NEWEST_VENV)
	$(NEWEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(NEWEST_VENV)/bin/python -m pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(NEWEST_VENV)/bin/python -m pip install --quiet -e ".[test]"
	$(NEWEST_VENV)/bin/python .ci/newest_transformers.py
	$(NEWEST_VENV)/bin/python -m pytest $(PYTEST_PARALLEL)

test-all: install
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "slow or not slow"

lint: install
	$(BIN)/ruff check hf_attn_seq2seq training tests benchmarks model_cards

bench: install
	$(BIN)/python -m benchmarks.run

# RESULTS.md section 10: the NTM against the LSTM on the copy task, 3 seeds of 15 minutes each side by side (48 min).
bench-ntm: install
	$(BIN)/python -m benchmarks.ntm_copy --minutes 15 --seeds 0 1 2

clean:
	rm -rf $(VENV) $(FLOOR_VENV) $(NEWEST_VENV) $(TRANSFORMERS_TESTS) outputs .pytest_cache
