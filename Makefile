# Two commands on a fresh machine: `make demo` (the main job on the built-in demo) and `make test`.
# Both create .venv and install pinned versions from constraints.txt first (llama-cpp-python compiles
# from source on first install: 8-13 minutes on 2 cores, cached by pip afterwards).
VENV ?= .venv
PY := $(VENV)/bin/python
export RAGAS_DO_NOT_TRACK := true
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup test demo example bench calibrate lint

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	CMAKE_BUILD_PARALLEL_LEVEL=2 $(PY) -m pip install -q -c constraints.txt -e '.[local,finetune,test]'
	touch $@

test: setup
	$(PY) -m pytest -q

demo: setup
	$(VENV)/bin/ragft-eval run evals/demo.yaml

example: setup
	$(VENV)/bin/ragft-eval run evals/example.yaml

bench: setup
	for b in tests/benchmarks/*.py; do $(PY) $$b || exit 1; done

lint: setup
	$(VENV)/bin/ruff check ragft_eval tests
