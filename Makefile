PYTHON ?= python3
export PYTHON

.PHONY: run test

## run: migrate, seed, check health and serve the admin on 127.0.0.1:8000
run:
	bash scripts/run.sh

## test: the whole suite (lint, migrations, PostgreSQL, SQLite)
test:
	bash scripts/test.sh
