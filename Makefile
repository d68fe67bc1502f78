# Two commands for a fresh machine: `make demo` and `make test`. Both install into .venv first.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.atelier-installed

.PHONY: demo test install clean bench sysdeps

install: $(STAMP)

$(STAMP): pyproject.toml Makefile package-lock.json
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: this machine has the 2.13.0 CPU wheel; an unpinned torch pulls GBs of CUDA wheels
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	# pyrender 0.1.45 pins PyOpenGL==3.1.0, whose OSMesa fallback is broken; >=3.1.7 fixes it and EGL still works
	$(BIN)/python -m pip install --quiet --no-deps "PyOpenGL>=3.1.7"
	# the fit-check page's 3D viewer (@google/model-viewer) comes from the npm registry, pinned by package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error; \
	  else echo "note: npm not found; atelier fitcheck's 3D viewer needs it (apt-get install npm)"; fi
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/atelier demo --out out/demo

test: $(STAMP) sysdeps
	$(BIN)/python -m pytest -q tests

# System tools some tests use: exiftool reads the AI-disclosure metadata back; Chromium opens the
# fit-check page. Best effort: a test that needs a missing tool skips and says which.
sysdeps:
	@missing=""; command -v exiftool >/dev/null 2>&1 || missing="$$missing libimage-exiftool-perl"; \
	  command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	  if [ -n "$$missing" ]; then \
	    if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	      echo "installing$$missing (Debian packages)"; \
	      (apt-get update -qq && apt-get install -y -qq $$missing) >/dev/null 2>&1 || echo "note: could not install$$missing; their tests will skip"; \
	    else echo "note:$$missing not installed; their tests will skip"; fi; fi

bench: $(STAMP)
	$(BIN)/python benchmarks/render.py

clean:
	rm -rf $(VENV) out
