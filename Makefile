# Two commands for a fresh machine: `make demo` and `make test`. Both install into .venv first.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.atelier-installed

.PHONY: demo test install clean bench sysdeps

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: this machine has the 2.13.0 CPU wheel; an unpinned torch pulls GBs of CUDA wheels
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	# pyrender 0.1.45 pins PyOpenGL==3.1.0, whose OSMesa fallback is broken; >=3.1.7 fixes it and EGL still works
	$(BIN)/python -m pip install --quiet --no-deps "PyOpenGL>=3.1.7"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/atelier demo --out out/demo

test: $(STAMP) sysdeps
	$(BIN)/python -m pytest -q tests

# Optional system tools some tests use (exiftool reads the AI-disclosure metadata back). Best
# effort: tests that need a missing tool skip and say which.
sysdeps:
	@command -v exiftool >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && apt-get install -y -qq libimage-exiftool-perl) >/dev/null 2>&1 || \
	  echo "note: exiftool not installed; its test will skip"; }

bench: $(STAMP)
	$(BIN)/python benchmarks/render.py

clean:
	rm -rf $(VENV) out
