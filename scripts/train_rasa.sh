#!/usr/bin/env bash
# Train the Rasa model only when its inputs (config, domain, training data) changed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
inputs=$(cat config.yml domain.yml requirements/rasa.txt $(find nlu_data -type f | sort) | sha256sum | cut -c1-16)
out=models/rasa
if [ -f "$out/$inputs.tar.gz" ]; then
  echo "$inputs" > "$out/latest"
  echo "Rasa model $inputs is up to date"
  exit 0
fi
mkdir -p "$out"
echo "Training Rasa model $inputs (inputs changed)..."
.venv/rasa/bin/rasa train --config config.yml --domain domain.yml --data nlu_data \
  --out "$out" --fixed-model-name "$inputs" --quiet
echo "$inputs" > "$out/latest"
