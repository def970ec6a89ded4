# The two commands of the README's quick start:
#   make run    set up and run the whole system locally
#   make test   set up and run the test suite (what .ci/run calls)
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test setup migrate package clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/python -m scripts.devstack $(ARGS)

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(ARGS)

migrate: $(STAMP)
	$(VENV)/bin/python scripts/migrate.py up

package: $(STAMP)
	scripts/package.sh $(or $(STAGE),prod) build/$(or $(STAGE),prod)

clean:
	rm -rf $(VENV) .local build
