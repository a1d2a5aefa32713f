# The two commands: `make run` (demo server on http://127.0.0.1:8000) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The demo runs in dev mode: a development signing key, data under ./data, and config/demo.toml
# (the SOC's old sample logs replayed as if they had just happened).
DEMO_ENV := CYBERLAB_SERVER__DEV=true CYBERLAB_CONFIG=config/demo.toml

.PHONY: run test lint bench clean chromium bind9-utils unbound screenshots translations axe

$(BIN)/cyberlab: requirements.txt requirements-dev.txt pyproject.toml
	@# Debian's python3 needs python3-venv for this; install it when it is missing (we run as root).
	$(PYTHON) -m venv $(VENV) || (apt-get update && apt-get install -y python3-venv && $(PYTHON) -m venv $(VENV))
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

run: $(BIN)/cyberlab
	$(DEMO_ENV) $(BIN)/cyberlab init
	@# Demo content flows through the real connectors: the city SOC's logs and CERT-FR's MISP feed
	@# (sample data in connectors/samples/, sources in connectors/samples/SOURCES.md).
	$(DEMO_ENV) $(BIN)/cyberlab ingest city-soc
	$(DEMO_ENV) $(BIN)/cyberlab ingest cert-fr
	@echo "== Demo subscriber (use as HTTP Basic user name and password) =="
	@$(DEMO_ENV) $(BIN)/cyberlab users ensure demo --role subscriber
	@echo "TAXII discovery: http://127.0.0.1:8000/taxii2/"
	$(DEMO_ENV) $(BIN)/cyberlab serve

test: $(BIN)/cyberlab chromium bind9-utils unbound axe
	$(BIN)/python -m pytest -q

# The RPZ export is checked with BIND's named-checkzone (the test skips, saying so, without it).
bind9-utils:
	@command -v named-checkzone >/dev/null || (apt-get update && apt-get install -y bind9-utils)

# ... and loaded into a running Unbound on 127.0.0.1 (tests/resolver.py; skipped without it).
# Debian's package also enables a system unbound service on port 53 where systemd runs it: the
# tests start their own, so that service is disabled again right after the install.
unbound:
	@test -x /usr/sbin/unbound || command -v unbound >/dev/null || (apt-get update && apt-get install -y unbound \
		&& (command -v systemctl >/dev/null && systemctl disable --now unbound 2>/dev/null || true))

# The browser tests drive Debian's Chromium (a browser that downloads itself cannot run here).
chromium:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium chromium-driver)

# Screenshots of the main pages for docs/ and the README, taken by the browser tests.
# axe-core (npm, MPL-2.0) checks every page for accessibility problems in the browser tests. It is
# installed into ./node_modules (git-ignored), not vendored: npm keeps it whole with its license.
AXE_VERSION := 4.14.1
axe: node_modules/axe-core/axe.min.js
node_modules/axe-core/axe.min.js:
	@command -v npm >/dev/null || (apt-get update && apt-get install -y npm)
	npm install --no-save --no-package-lock --no-audit --no-fund axe-core@$(AXE_VERSION)

screenshots: $(BIN)/cyberlab chromium axe
	CYBERLAB_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/browser

# Spanish: extract the marked strings, merge them into the catalog (translate what is new in
# cyberlab/translations/es/LC_MESSAGES/messages.po), compile the .mo (committed: a fresh clone
# needs no build step; tests/cyberlab/test_i18n.py fails when it is stale or a string is untranslated).
translations: $(BIN)/cyberlab
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext --no-location --project CyberLab \
		--copyright-holder "CyberLab contributors" -o cyberlab/translations/messages.pot .
	$(BIN)/pybabel update -i cyberlab/translations/messages.pot -d cyberlab/translations \
		--ignore-obsolete --width 110
	$(BIN)/pybabel compile -d cyberlab/translations --statistics

lint: $(BIN)/cyberlab
	$(BIN)/ruff check .
	$(BIN)/mypy config connectors indexer cyberlab wsgi.py

bench: $(BIN)/cyberlab
	$(BIN)/python bench/taxii_bench.py --sizes 10000,100000
	$(BIN)/python bench/ingest_bench.py --soc-lines 100000,1000000 --misp-copies 2

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
