#!/usr/bin/env bash
# Every test: Rasa's data validation and conversation tests, then pytest (unit, storage on
# SQLite and PostgreSQL, the real model, and integration against real Rasa + action servers).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# Tests get their own data folder and ports so they never touch a running `make run`.
export LEGAL_TRIAGE_TEST_DATA_DIR="$(mktemp -d)"
trap 'rm -rf "$LEGAL_TRIAGE_TEST_DATA_DIR"' EXIT
model="models/rasa/$(cat models/rasa/latest).tar.gz"

echo "== rasa data validate"
.venv/rasa/bin/rasa data validate --domain domain.yml --data nlu_data --config config.yml --quiet

echo "== rasa test (conversation tests)"
.venv/rasa/bin/rasa test core --stories tests/conversations --model "$model" \
  --out "$LEGAL_TRIAGE_TEST_DATA_DIR/rasa-results" --fail-on-prediction-errors --quiet --no-plot

echo "== pytest"
# PostgreSQL is required here (CI and developer machines run it); set
# LEGAL_TRIAGE_SKIP_SERVICES=1 only where it is absent.
export LEGAL_TRIAGE_TEST_POSTGRES_URL="${LEGAL_TRIAGE_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
exec .venv/app/bin/python -m pytest -p no:cacheprovider -q "$@"
