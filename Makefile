# Two commands on a fresh machine: `make run` (the platform) and `make test` (install + whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export STOCKBOT_HOME ?= $(CURDIR)/.stockbot

.PHONY: install run demo stop test lint format clean

# torch first and pinned: a CPU build of torch==2.13.0 installs from local disk here, while an open
# range pulled in by another package could fetch a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# configurable-http-proxy (JupyterHub's proxy) into a local prefix, never a global install, from
# hub/package-lock.json (exact versions; it needs Node.js >= 20)
CHP := .hub-node/node_modules/.bin/configurable-http-proxy
$(CHP): hub/package.json hub/package-lock.json
	@node -e 'const v = process.versions.node.split(".").map(Number); if (v[0] < 20) { console.error("Node.js >= 20 is needed for JupyterHub'"'"'s proxy; this is " + process.version); process.exit(1) }' \
	  || { echo "install Node.js 20 or newer (with npm) and run make again"; exit 1; }
	mkdir -p .hub-node
	cp hub/package.json hub/package-lock.json .hub-node/
	npm ci --prefix .hub-node --no-audit --no-fund
	touch -h $@

install: $(STAMP) $(CHP)

# The platform in the foreground: JupyterHub on 127.0.0.1:8000 (HOST=, PORT= to change) with the
# StockBot service and dashboards, the embedded store and the executor. Ctrl-C stops all of it.
HOST ?= 127.0.0.1
PORT ?= 8000
run: install
	$(BIN)/python -m hub --host $(HOST) --port $(PORT)

# hmm_fit, train and a backtest of the trained run as notebook jobs on the bundled data, no hub.
demo: install
	$(BIN)/stockbot demo --examples examples

# Stops daemons a `make demo` (or a crashed `make run`) left running (same STOCKBOT_HOME).
stop:
	-$(BIN)/stockbot executor stop
	-$(BIN)/stockbot store stop

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install lint
	$(BIN)/pytest

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
