#!/usr/bin/env bash
# Start the action server, the Rasa server, the web app (and the Telegram worker when a token is
# set); Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
model="models/rasa/$(cat models/rasa/latest).tar.gz"
pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "Stopping..."
  # Each process leads its own process group (setsid): the group signal also reaches
  # workers they spawned (Sanic serves actions from a child process).
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "Stopped."
}
trap stop INT TERM EXIT
mkdir -p "$LEGAL_TRIAGE_DATA_DIR/logs"
setsid .venv/app/bin/legal-triage actions -p "$ACTION_PORT" \
  > "$LEGAL_TRIAGE_DATA_DIR/logs/actions.log" 2>&1 & pids+=($!)
# One TensorFlow thread per op: DIET is small, and TensorFlow's spinning pools would only compete
# with the action server for the two cores (tests/support/stack.py starts Rasa the same way).
TF_INTER_OP_PARALLELISM_THREADS=1 TF_INTRA_OP_PARALLELISM_THREADS=1 \
  setsid .venv/rasa/bin/rasa run --enable-api --auth-token "$RASA_TOKEN" -i 127.0.0.1 -p "$RASA_PORT" \
  --model "$model" --endpoints endpoints.yml --credentials credentials.yml \
  > "$LEGAL_TRIAGE_DATA_DIR/logs/rasa.log" 2>&1 & pids+=($!)
setsid .venv/app/bin/legal-triage web > "$LEGAL_TRIAGE_DATA_DIR/logs/web.log" 2>&1 & pids+=($!)
telegram="not configured (set TELEGRAM_BOT_TOKEN)"
if [ -n "${TELEGRAM_BOT_TOKEN:-}" ]; then
  setsid .venv/app/bin/legal-triage telegram > "$LEGAL_TRIAGE_DATA_DIR/logs/telegram.log" 2>&1 & pids+=($!)
  telegram="running (log: $LEGAL_TRIAGE_DATA_DIR/logs/telegram.log)"
fi
echo "Starting (logs in $LEGAL_TRIAGE_DATA_DIR/logs)..."
for _ in $(seq 1 120); do
  if curl -sf "http://127.0.0.1:$LEGAL_TRIAGE_WEB_PORT/healthz" >/dev/null; then break; fi
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || { echo "A process exited; see $LEGAL_TRIAGE_DATA_DIR/logs"; exit 1; }; done
  sleep 2
done
cat <<MSG

  legal-triage is running:
    web chat      http://127.0.0.1:$LEGAL_TRIAGE_WEB_PORT/chat
    health        http://127.0.0.1:$LEGAL_TRIAGE_WEB_PORT/healthz
    Rasa (REST)   http://127.0.0.1:$RASA_PORT/webhooks/rest/webhook
    actions       http://127.0.0.1:$ACTION_PORT/health
    console       http://localhost:$LEGAL_TRIAGE_WEB_PORT/console (first admin: .venv/app/bin/legal-triage users create-admin NAME)
    staff API     http://127.0.0.1:$LEGAL_TRIAGE_WEB_PORT/api/staff/ (tokens: LEGAL_TRIAGE_STAFF_TOKENS)
    WeChat        ${WECHAT_TOKEN:+http://127.0.0.1:$LEGAL_TRIAGE_WEB_PORT/wechat}${WECHAT_TOKEN:-not configured (set WECHAT_TOKEN)}
    Telegram      $telegram
  Terminal chat:  .venv/app/bin/legal-triage chat
  Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}"
