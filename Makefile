# Two commands for a new user: `make run` and `make test`. See README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export PORT

.PHONY: install run setup test lint fmt clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.lock
	touch $@

## install: create .venv/ from the lock file
install: $(VENV)/.installed

## setup: migrate, schedules, demo catalogue and credentials (SQLite unless DATABASE_URL is set)
setup: install
	@mkdir -p var
	@echo "==> Migrating the database (the first time takes about a minute: dj-stripe has many migrations)"
	DEBUG=1 BILLING_ALLOW_TIME_TRAVEL=1 $(BIN)/python manage.py migrate --no-input
	DEBUG=1 $(BIN)/python manage.py setup_schedules
	DEBUG=1 $(BIN)/python manage.py setup_roles
	DEBUG=1 $(BIN)/python manage.py seed_demo

## run: set everything up, then start the web server and the django-q2 worker together
run: setup
	@echo "==> Demo credentials (new on every run, shown once):"
	@DEBUG=1 $(BIN)/python manage.py demo_credentials
	@echo "==> Admin     http://localhost:$(PORT)/admin/"
	@echo "==> API docs  http://localhost:$(PORT)/api/docs/"
	@echo "==> Health    http://localhost:$(PORT)/healthz"
	PATH="$(CURDIR)/$(BIN):$$PATH" DEBUG=1 BILLING_ALLOW_TIME_TRAVEL=1 SITE_URL=$${SITE_URL:-http://localhost:$(PORT)} $(BIN)/honcho start -f Procfile.dev

## test: the whole suite on PostgreSQL (a throwaway cluster unless DATABASE_URL is set)
test: install
	@scripts/test.sh $(ARGS)

## lint: ruff, and import-linter for the layers (pyproject.toml [tool.importlinter])
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
