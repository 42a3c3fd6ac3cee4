PYTHON ?= python3
export PYTHON

.PHONY: help run test bench db-status db-url db-stop db-delete

# `make` alone runs `make run`, as before `help` existed.
.DEFAULT_GOAL := run

## help: list these targets (`make run` and `make test` are the two that matter)
help:
	@sed -n 's/^## \([a-z-]*\): /\1\t/p' $(MAKEFILE_LIST) | expand -t 12

## run: migrate, seed, check health and serve the admin on 127.0.0.1:8000
run:
	bash scripts/run.sh

## test: the whole suite (lint, migrations, PostgreSQL, SQLite)
test:
	bash scripts/test.sh

## bench: services against plain Django, the SET/RESET peer and raw one-trip, at 0 and 1 ms (ARGS=--quick: judges nothing)
bench:
	bash scripts/bench.sh $(ARGS)

# The embedded PostgreSQL of `make run`, in $RUN_PG_DIR (default
# var/postgres). Stop and delete refuse a folder outside this project.
EMBEDDED_PG = bash -c 'source scripts/venv.sh >&2 && exec python -m embedded_pg "$$@"' --

## db-status: say whether the embedded PostgreSQL runs, and on which port
db-status:
	@$(EMBEDDED_PG) status "$${RUN_PG_DIR:-var/postgres}" || true

## db-url: the runtime role's URL, e.g. DATABASE_URL=$(make -s db-url) manage.py shell
db-url:
	@$(EMBEDDED_PG) url "$${RUN_PG_DIR:-var/postgres}" --role todoproject_app \
		--password-file "$${RUN_PG_DIR:-var/postgres}/app.password" --database todoproject

## db-stop: stop the embedded PostgreSQL (its data stays)
db-stop:
	@$(EMBEDDED_PG) stop "$${RUN_PG_DIR:-var/postgres}" --inside "$(CURDIR)"

## db-delete: stop the embedded PostgreSQL and delete its data
db-delete:
	@$(EMBEDDED_PG) delete "$${RUN_PG_DIR:-var/postgres}" --inside "$(CURDIR)"
