# The two commands of the README's quick start:
#   make run    set up and run the whole system locally
#   make test   set up and run the test suite (what .ci/run calls)
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium

.PHONY: run test setup browser migrate package clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/python -m scripts.devstack $(ARGS)

test: $(STAMP) browser
	$(VENV)/bin/python -m pytest $(ARGS)

# Headless Chromium draws scripts/report.py's page in tests/api/test_report.py.
# A fresh machine lacks it: installed from Debian when we are root (~30 s
# measured), else the test is skipped with the reason.
browser:
	@test -x $(CHROMIUM) || [ "$$(id -u)" != 0 ] || { \
		echo "installing chromium (Debian package) for the report test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

migrate: $(STAMP)
	$(VENV)/bin/python scripts/migrate.py up

package: $(STAMP)
	scripts/package.sh $(or $(STAGE),prod) build/$(or $(STAGE),prod)

clean:
	rm -rf $(VENV) .local build
