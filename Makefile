# Two commands for a newcomer on a fresh machine (README: "Quick start" and "Test"):
#   make demo   set up .venv, train the demo model, translate the demo test set, score its BLEU
#   make test   set up .venv, run the test suite
# Both create or reuse the virtual environment and are safe to run again: the demo model is
# trained once (again only when configs/demo.yaml changes; `make clean-demo` forgets it).

PYTHON ?= python3
VENV ?= .venv
TORCH_CPU ?= torch==2.13.0
BIN := $(VENV)/bin
DEMO := runs/demo

.PHONY: setup demo test clean-demo
.DELETE_ON_ERROR:

setup: $(VENV)/.installed

# torch first: without a GPU the CPU build (a bare `torch` would pull the CUDA build, GBs).
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || \
	  if command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/python -m pip install torch; \
	  else $(BIN)/python -m pip install $(TORCH_CPU); fi
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

# The marker appears only when training ends well: a run killed by any means (kill -9
# included) leaves a best.ckpt from its early epochs, but no marker, so it trains again.
$(DEMO)/trained: configs/demo.yaml | setup
	rm -f $@
	$(BIN)/seq2seq-train fit --config configs/demo.yaml --trainer.enable_progress_bar false
	touch $@

# The corpus configs/demo.yaml trains on (its seed and sizes are the generator's defaults).
$(DEMO)/data/test.en: configs/demo.yaml | setup
	$(BIN)/seq2seq-demo-corpus --overwrite $(DEMO)/data

demo: $(DEMO)/trained $(DEMO)/data/test.en
	$(BIN)/seq2seq-translate --checkpoint $(DEMO)/best.ckpt --input $(DEMO)/data/test.en \
	  --output $(DEMO)/test.hyp.de
	head -3 $(DEMO)/test.hyp.de
	$(BIN)/seq2seq-evaluate --hypotheses $(DEMO)/test.hyp.de --references $(DEMO)/data/test.de

test: setup
	$(BIN)/python -m pytest -q

clean-demo:
	rm -rf $(DEMO)
