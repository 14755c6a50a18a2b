# Shared environment for the three processes (sourced by run.sh, train and tests).
# Everything can be overridden from the environment.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Files the processes create (databases, Rasa's tracker, logs, exports) hold personal information:
# readable by their owner only.
umask 077
export LEGAL_TRIAGE_DATA_DIR="${LEGAL_TRIAGE_DATA_DIR:-$ROOT/data}"
mkdir -p "$LEGAL_TRIAGE_DATA_DIR"
export RASA_PORT="${RASA_PORT:-5005}"
export ACTION_PORT="${ACTION_PORT:-5055}"
export LEGAL_TRIAGE_WEB_PORT="${LEGAL_TRIAGE_WEB_PORT:-8000}"
export LEGAL_TRIAGE_RASA_URL="${LEGAL_TRIAGE_RASA_URL:-http://127.0.0.1:$RASA_PORT}"
export LEGAL_TRIAGE_ACTION_SERVER_URL="${LEGAL_TRIAGE_ACTION_SERVER_URL:-http://127.0.0.1:$ACTION_PORT}"
export ACTION_ENDPOINT_URL="${ACTION_ENDPOINT_URL:-$LEGAL_TRIAGE_ACTION_SERVER_URL/webhook}"
# Rasa's tracker store: SQLite under data/ unless a URL is given.
export RASA_TRACKER_DIALECT="${RASA_TRACKER_DIALECT:-sqlite}"
export RASA_TRACKER_URL="${RASA_TRACKER_URL:-sqlite:///$LEGAL_TRIAGE_DATA_DIR/rasa_tracker.db}"
export RASA_TRACKER_DB="${RASA_TRACKER_DB:-$LEGAL_TRIAGE_DATA_DIR/rasa_tracker.db}"
# Secrets each process must share, and keep across restarts: from the environment, else random ones
# kept owner-only in data/.
keep_secret() {  # VARIABLE FILE BYTES
  if [ -z "${!1:-}" ]; then
    if [ ! -s "$2" ]; then  # written aside, then linked: two set-up steps at once agree on one secret
      local tmp; tmp=$(umask 077; mktemp "$2.XXXXXX")
      head -c "$3" /dev/urandom | od -An -tx1 | tr -d ' \n' > "$tmp"
      ln "$tmp" "$2" 2>/dev/null || true
      rm -f "$tmp"
    fi
    printf -v "$1" '%s' "$(cat "$2")"
  fi
  export "${1?}"
}
# Token for Rasa's HTTP API (--enable-api).
keep_secret RASA_TOKEN "$LEGAL_TRIAGE_DATA_DIR/rasa_token" 24
export LEGAL_TRIAGE_RASA_TOKEN="$RASA_TOKEN"
# Key of the sender pseudonyms (HMAC).
keep_secret LEGAL_TRIAGE_PSEUDONYM_SECRET "$LEGAL_TRIAGE_DATA_DIR/pseudonym_secret" 32
# Key that signs the web chat's sender cookie: a citizen's conversation survives a web app restart.
keep_secret LEGAL_TRIAGE_WEB_SECRET "$LEGAL_TRIAGE_DATA_DIR/web_secret" 32
# The action server listens on loopback only.
export SANIC_HOST=127.0.0.1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export SQLALCHEMY_SILENCE_UBER_WARNING=1
# Rasa must not phone home (telemetry, Sentry): no network but loopback at run time.
export RASA_TELEMETRY_ENABLED=false
