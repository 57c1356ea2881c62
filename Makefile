# Cardiac QA Node. `make demo` runs the product end to end; `make test` runs the test suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test test-fast demo bench screenshots lint clean

venv: $(STAMP)

# torch is installed first with its exact pin: a local CPU wheel (an unpinned torch pulls GBs of CUDA).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[train,test]"
	touch $(STAMP)

# scripts/test-services installs DCMTK, dicom3tools, PostgreSQL, Orthanc and Chromium when
# missing and starts PostgreSQL on loopback: the tests use the real tools and never skip.
test: venv
	bash scripts/test-services
	$(PY) -m ruff check config storage models analyzers dicom_node tests benchmarks
	$(VENV)/bin/lint-imports
	CARDIAC_QA_TEST_POSTGRES_URL=$${CARDIAC_QA_TEST_POSTGRES_URL:-postgresql+psycopg://cqa:cqa@127.0.0.1:5432/postgres} \
	  $(PY) -m pytest -q -p no:cacheprovider tests

demo: venv
	$(VENV)/bin/cardiac-qa demo --out demo-out

bench: venv
	@set -e; for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f; done

screenshots: venv
	$(PY) -m pytest -q tests/interop/test_dashboard_browser.py --screenshots docs/img

lint: venv
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) var demo-out .pytest_cache
