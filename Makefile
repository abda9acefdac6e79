# The two commands of the README: `make run` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint clean bench bench-quick bench-scale bench-snapshots system-tools deploy-check fuzz chaos chaos-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when the project's dependencies change.
$(VENV)/installed.stamp: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# The bench extra too: `make test` runs a tiny smoke of the benchmark code; and the deploy
# extra: it validates deploy/.
$(VENV)/installed-test.stamp: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,bench,deploy,chaos]'
	touch $(VENV)/installed.stamp $@

# Programs the tests run that PyPI does not have: Prometheus and promtool (Debian's package),
# kubectl (part of this kind of machine).
system-tools:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@command -v kubectl >/dev/null || { echo "kubectl is needed to render deploy/kubernetes" >&2; exit 1; }

run: $(VENV)/installed.stamp
	$(BIN)/flotilla serve

lint: $(VENV)/installed-test.stamp
	$(BIN)/ruff check .

test: $(VENV)/installed-test.stamp system-tools chaos-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# deploy/ checked by the tools that consume it; the dashboard and alerts against a real
# Prometheus scraping a real cluster (redrawing docs/dashboard.png); the StatefulSet's pods
# and the compose services started from their own commands, the StatefulSet formed 10 times.
deploy-check: $(VENV)/installed-test.stamp system-tools
	FLOTILLA_DASHBOARD_PNG=docs/dashboard.png FLOTILLA_FORMATION_RUNS=10 \
		$(BIN)/python -m pytest -q -s tests/test_deploy_files.py tests/test_dashboard.py \
		tests/test_deploy_startup.py

# Benchmarks (README, "Benchmarks"): figures and target ratios, never a pass/fail on speed.
bench: $(VENV)/installed-test.stamp
	$(BIN)/python -m bench --mode full

bench-quick: $(VENV)/installed-test.stamp
	$(BIN)/python -m bench --mode quick

# One node at 100k and 1M points (128-d Cosine): ingest, time to green, RSS against the floor,
# search QPS and recall, qdrant-edge's upsert+optimize, and how each grows (under 20 minutes).
bench-scale: $(VENV)/installed-test.stamp
	$(BIN)/python -m bench.scale

bench-snapshots: $(VENV)/installed-test.stamp
	$(BIN)/python -m bench.snapshots

# Fuzzing (tests/fuzz): schemathesis against a real node for FUZZ_SECONDS, from Qdrant's OpenAPI
# spec in ../shared/reference; prints the requests sent, the statuses, failures and the node's RSS.
# FUZZ_ARGS=--cluster fuzzes a node with clustering on; `python -m fuzz --help` in tests/ for more.
FUZZ_SECONDS ?= 600
FUZZ_MIN_REQUESTS ?= 20000
FUZZ_ARGS ?=
fuzz: $(VENV)/installed-test.stamp
	cd tests && ../$(BIN)/python -m fuzz --seconds $(FUZZ_SECONDS) \
		--min-requests $(FUZZ_MIN_REQUESTS) $(FUZZ_ARGS)

# The chaos harness cuts links with nftables and delays them through an iptables NFQUEUE inside
# the network namespaces it creates (root only; without them it falls back to loopback and
# process faults).
CHAOS_DEBS := nftables iptables
chaos-deps:
	@if [ "$$(id -u)" = 0 ] && ! { command -v nft && command -v iptables; } >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(CHAOS_DEBS) >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(CHAOS_DEBS); } || \
		echo "$(CHAOS_DEBS) not installed: chaos runs on loopback with process faults only"; \
	fi

# Every chaos scenario with 3 seeds (README, "Chaos testing"); non-zero on a violated invariant.
chaos: $(VENV)/installed-test.stamp chaos-deps
	$(BIN)/python -m chaos.suite --seeds 3

clean:
	rm -rf $(VENV) storage
