# The two commands a newcomer needs: `make run` and `make test`. Both install what is missing first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt | sha256sum | cut -c1-12)

.PHONY: install run test test-browser lint

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

## Start the app at once; a missing demo registry (synthetic data, both models, Qdrant index) is built by a background
## job whose progress the app shows, each product appearing as soon as its first run is done. `serve` starts Streamlit
## with its upload limit from ANOMALYLENS_MAX_UPLOAD_MB.
run: install
	$(PY) -m services.cli demo --background
	$(PY) -m services.cli serve

lint: install
	$(PY) -m ruff check .

## Lint, then the whole test suite: unit, integration (tiny trained models), Streamlit AppTest pages and the
## real-browser journey (Debian chromium, headless, installed when missing; its timings are printed).
test: install
	$(PY) -m ruff check .
	bash scripts/ensure_chromium.sh
	$(PY) -m pytest

## Only the real-browser journey: upload, click a defect, neighbours, screenshots of every page.
test-browser: install
	bash scripts/ensure_chromium.sh
	$(PY) -m pytest -m browser -s
