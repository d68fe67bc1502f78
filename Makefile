# Two commands for a fresh machine: `make demo` and `make test`. Both install into .venv first.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.atelier-installed

.PHONY: demo test install clean bench sysdeps lock

LOCK   := requirements.lock
UV     := .venv-lock/bin/uv

install: $(STAMP)

# Every package, transitive ones included, at the version in requirements.lock (made from
# pyproject.toml by `make lock`), so every machine gets the same set. The lock is complete, so
# nothing is resolved here (--no-deps); that is also what lets the lock override pyrender's
# PyOpenGL==3.1.0 pin (requirements-overrides.txt says why).
$(STAMP): $(LOCK) pyproject.toml Makefile package-lock.json
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "pip==26.3"
	# torch==2.13.0+cpu in the lock is the CPU wheel this machine's pip finds locally; a CUDA torch is GBs
	$(BIN)/python -m pip install --quiet --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	# packages left from an older lock are removed, so the venv holds exactly the lock
	@$(BIN)/python -m pip freeze --exclude-editable | sed 's/==.*//' | tr 'A-Z_' 'a-z-' | sort > $(VENV)/.installed
	@grep -E '^[A-Za-z0-9]' $(LOCK) | sed 's/==.*//' | tr 'A-Z_' 'a-z-' | sort > $(VENV)/.locked
	@extra=$$(comm -23 $(VENV)/.installed $(VENV)/.locked); \
	  if [ -n "$$extra" ]; then echo "removing packages not in $(LOCK):" $$extra; $(BIN)/python -m pip uninstall --quiet -y $$extra; fi
	# the fit-check page's 3D viewer (@google/model-viewer) comes from the npm registry, pinned by package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error; \
	  else echo "note: npm not found; atelier fitcheck's 3D viewer needs it (apt-get install npm)"; fi
	@touch $(STAMP)

# Remake requirements.lock from pyproject.toml with uv, keeping the versions it has unless told:
#   make lock                      after adding or changing a dependency in pyproject.toml
#   make lock UPGRADE=scipy        move one package (and what it needs) to its newest version
#   make lock UPGRADE=all          move everything
# /opt/wheels holds this machine kind's torch 2.13.0 CPU wheel (uv does not look there by itself).
lock:
	@test -x $(UV) || ($(PYTHON) -m venv .venv-lock && .venv-lock/bin/python -m pip install --quiet "uv==0.13.9")
	$(UV) pip compile pyproject.toml --extra test --python-version 3.11 --quiet \
	  $(if $(wildcard /opt/wheels),--find-links /opt/wheels) --no-emit-find-links \
	  --override requirements-overrides.txt -o $(LOCK) \
	  $(if $(filter all,$(UPGRADE)),--upgrade,$(foreach p,$(UPGRADE),--upgrade-package $(p)))

demo: $(STAMP)
	$(BIN)/atelier demo --out out/demo

test: $(STAMP) sysdeps
	$(BIN)/python -m pytest -q tests

# System tools some tests use: exiftool reads the AI-disclosure metadata back; Chromium opens the
# fit-check page; PostgreSQL serves the rights tests. Best effort: a test that needs a missing tool
# skips and says which (PostgreSQL's fail in CI instead).
sysdeps:
	@missing=""; command -v exiftool >/dev/null 2>&1 || missing="$$missing libimage-exiftool-perl"; \
	  command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	  if [ -n "$$missing" ]; then \
	    if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	      echo "installing$$missing (Debian packages)"; \
	      (apt-get update -qq && apt-get install -y -qq $$missing) >/dev/null 2>&1 || echo "note: could not install$$missing; their tests will skip"; \
	    else echo "note:$$missing not installed; their tests will skip"; fi; fi
	@# PostgreSQL for the rights tests on both databases; the tests start a throwaway server themselves
	@bash .ci/postgres.sh install || echo "note: no PostgreSQL server; its rights tests skip here and fail in CI"

bench: $(STAMP)
	$(BIN)/python benchmarks/render.py

clean:
	rm -rf $(VENV) .venv-lock out
