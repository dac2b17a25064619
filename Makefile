# The two commands of the quick start: `make run` and `make test`. Everything they need is set up here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PG_HOST ?= 127.0.0.1
PG_PORT ?= 5432
TEST_DATABASE_URL ?= postgres://postgres@$(PG_HOST):$(PG_PORT)/postgres
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test test-embedded venv dev-venv setup-demo services lint ci clean system-packages test-system-packages bench backup restore \
	worker-evaluations worker-reports

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstalled only when a requirements file changes.
$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime-installed $@

venv: $(VENV)/.runtime-installed
dev-venv: $(VENV)/.dev-installed

# Migrate, load the demo registry, evaluate it and write its reports: idempotent on re-run.
setup-demo: venv system-packages
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py import_registry registry/demo/registry.json --via demo
	$(BIN)/python manage.py setup_demo --url http://$(HOST):$(PORT)/

run: setup-demo
	@echo "Serving the Compute Threshold Registry on http://$(HOST):$(PORT)/ (Ctrl-C stops it)"
	$(BIN)/python manage.py runserver $(HOST):$(PORT) --noreload

# Starts PostgreSQL and Redis when they are installed but stopped; says which it will use.
services:
	@if command -v pg_isready >/dev/null && ! pg_isready -q -h $(PG_HOST) -p $(PG_PORT); then \
	  if command -v pg_ctlcluster >/dev/null; then \
	    echo "Starting PostgreSQL"; pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -1) main start; \
	    for i in $$(seq 30); do pg_isready -q -h $(PG_HOST) -p $(PG_PORT) && break; sleep 1; done; \
	  fi; \
	fi
	@if command -v redis-cli >/dev/null && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then \
	  if command -v redis-server >/dev/null; then \
	    echo "Starting Redis"; mkdir -p /var/lib/redis /var/log/redis; \
	    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log; \
	    for i in $$(seq 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done; \
	  fi; \
	fi

# Debian packages: Pango and DejaVu fonts for WeasyPrint's PDF reports (make run), plus
# poppler-utils (pdftotext, pdftoppm) for the report tests and chromium for the browser tests of the
# regulator's workspace (make test; Playwright drives /usr/bin/chromium). Installs only what is missing;
# skipped where there is no dpkg (not Debian: install them with the system's own tools).
RUNTIME_DEB_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core
TEST_DEB_PACKAGES := $(RUNTIME_DEB_PACKAGES) poppler-utils chromium
define install_missing_deb
	@command -v dpkg-query >/dev/null || exit 0; \
	missing=""; for pkg in $(1); do \
	  dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if ! command -v apt-get >/dev/null; then echo "Missing packages:$$missing (install them by hand)"; exit 1; fi; \
	  echo "Installing Debian packages:$$missing"; SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
endef
system-packages:
	$(call install_missing_deb,$(RUNTIME_DEB_PACKAGES))
test-system-packages:
	$(call install_missing_deb,$(TEST_DEB_PACKAGES))

test: dev-venv services test-system-packages
	@if command -v pg_isready >/dev/null && pg_isready -q -h $(PG_HOST) -p $(PG_PORT) \
	   && command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then \
	  echo "make test: PostgreSQL ($(TEST_DATABASE_URL)) and Redis ($(TEST_REDIS_URL))"; \
	  export DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) SECRET_KEY=test-only-not-secret; \
	  $(BIN)/pytest $(PYTEST_ARGS); \
	elif [ "$${CI:-}" = true ]; then \
	  echo "make test: PostgreSQL ($(PG_HOST):$(PG_PORT)) or Redis (127.0.0.1:6379) not reachable; under CI" \
	       "(CI=true) that is a failure, not a reason to fall back to the embedded default (make test-embedded)" >&2; \
	  exit 1; \
	else \
	  echo "make test: PostgreSQL or Redis not reachable; using the embedded default (SQLite, eager Celery)"; \
	  env -u DATABASE_URL -u REDIS_URL $(BIN)/pytest $(PYTEST_ARGS); \
	fi

# The same suite on the embedded default (SQLite in memory, Celery eager), whatever services run here:
# the set-up `make run` uses with nothing configured. The tests marked `services` are skipped.
test-embedded: dev-venv test-system-packages
	@echo "make test-embedded: the embedded default (SQLite, eager Celery)"
	env -u DATABASE_URL -u REDIS_URL $(BIN)/pytest $(PYTEST_ARGS)

# The benchmark of BENCHMARKS.md on this machine's PostgreSQL and Redis (its own bench_main database,
# dropped afterwards). Sizes: make bench BENCH_MODELS=50000 BENCH_CLUSTERS=5000. Prints one JSON object.
BENCH_MODELS ?= 100000
BENCH_CLUSTERS ?= 10000
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/14
bench: venv services system-packages
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(BENCH_REDIS_URL) SECRET_KEY=$${SECRET_KEY:-bench-only-not-secret} \
	  $(BIN)/python manage.py bench --models $(BENCH_MODELS) --clusters $(BENCH_CLUSTERS) --json $(BENCH_ARGS)

# Backups of the PostgreSQL database named by DATABASE_URL (pg_dump's custom format, read back
# before it is kept): make backup writes var/backups/registry-<UTC time>.dump; make restore
# FILE=... CONFIRM=yes replaces every table of DATABASE_URL with the backup's in one transaction,
# then verifies the decision log. Stop the web server and the workers before restoring.
BACKUP_DIR ?= var/backups
define require_postgres
	@case "$$DATABASE_URL" in postgres://*|postgresql://*) ;; \
	  *) echo "make $(1): DATABASE_URL must name a PostgreSQL database (postgres://user:password@host:5432/name);" \
	          "the embedded default keeps everything in db.sqlite3: copy that file instead" >&2; exit 2;; esac
	@command -v pg_dump >/dev/null && command -v pg_restore >/dev/null \
	  || { echo "make $(1): needs pg_dump and pg_restore (Debian: postgresql-client)" >&2; exit 2; }
endef
backup:
	$(call require_postgres,backup)
	@mkdir -p $(BACKUP_DIR); \
	file=$(BACKUP_DIR)/registry-$$(date -u +%Y%m%dT%H%M%SZ).dump; \
	pg_dump --format=custom --no-owner --no-privileges --dbname="$$DATABASE_URL" --file="$$file.partial" \
	  && pg_restore --list "$$file.partial" >/dev/null \
	  && mv "$$file.partial" "$$file" \
	  && echo "Backed up to $$file" \
	  || { rm -f "$$file.partial"; echo "make backup: failed; no backup written" >&2; exit 1; }

restore:
	$(call require_postgres,restore)
	@test -n "$(FILE)" || { echo "make restore: name the backup: make restore FILE=$(BACKUP_DIR)/registry-....dump CONFIRM=yes" >&2; exit 2; }
	@test -f "$(FILE)" || { echo "make restore: no such file: $(FILE)" >&2; exit 2; }
	@pg_restore --list "$(FILE)" >/dev/null || { echo "make restore: $(FILE) is not a readable pg_dump archive" >&2; exit 2; }
	@test "$(CONFIRM)" = yes || { echo "make restore: this replaces every table of the database named by DATABASE_URL" \
	  "with the backup's; run it again with CONFIRM=yes" >&2; exit 2; }
	pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction --exit-on-error \
	  --dbname="$$DATABASE_URL" "$(FILE)"
	@echo "Restored $(FILE); verifying the decision log"
	$(BIN)/python manage.py verify_log --no-progress

# Celery workers, one pool per queue (with DATABASE_URL, REDIS_URL and SECRET_KEY set): evaluations
# (submissions, runs, the outbox sweep) and reports, so a slow report never holds up an evaluation.
WORKER_CONCURRENCY ?= 2
worker-evaluations: venv
	$(BIN)/celery -A config worker -Q evaluations --loglevel INFO --concurrency $(WORKER_CONCURRENCY) -n evaluations@%h
worker-reports: venv
	$(BIN)/celery -A config worker -Q reports --loglevel INFO --concurrency 1 -n reports@%h

# ruff, then the import contracts of pyproject.toml (the apps' layers, the engine's purity).
lint: dev-venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-logo

ci: lint test test-embedded

clean:
	rm -rf $(VENV) db.sqlite3 var staticfiles .pytest_cache .ruff_cache
