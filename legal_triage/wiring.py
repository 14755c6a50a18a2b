"""Process-level wiring of the channel side: store, outbound senders, handoff and gateway.

The action server has its own factory (``services.py``); the web app and the Telegram worker
build what they need here. Channels whose settings are missing are simply not registered.
"""

from __future__ import annotations

import yaml

from legal_triage.gateway import Gateway
from legal_triage.handoff import Handoff, HandoffPolicy
from legal_triage.outbound import Outbound, WebOutbox
from legal_triage.rasa_client import RasaClient
from legal_triage.settings import Settings
from legal_triage.storage.port import CaseStore


def rasa_client(settings: Settings) -> RasaClient:
    return RasaClient(settings.rasa_url, token=settings.rasa_token)


def handoff_policy(settings: Settings) -> HandoffPolicy:
    config = yaml.safe_load((settings.knowledge_base_dir / "services.yml").read_text(encoding="utf-8")) or {}
    return HandoffPolicy.from_config(config.get("handoff"), settings.handoff_pickup_seconds)


def build_outbound(settings: Settings, store: CaseStore) -> Outbound:
    outbound = Outbound({"web": WebOutbox(store)})
    if settings.telegram_bot_token:
        from legal_triage.channels.telegram import TelegramSender

        outbound.register("tg", TelegramSender(settings.telegram_bot_token, settings.telegram_base_url))
    if settings.wechat_app_id and settings.wechat_app_secret:
        from legal_triage.channels.wechat import WeChatSender

        outbound.register("wx", WeChatSender(settings.wechat_app_id, settings.wechat_app_secret,
                                             settings.wechat_api_base_url))
    return outbound


def build_store(settings: Settings) -> CaseStore:
    from legal_triage.storage.sql import SqlCaseStore, make_engine

    return SqlCaseStore(make_engine(settings.sqlalchemy_url))


def build_handoff(settings: Settings, store: CaseStore | None = None, rasa: RasaClient | None = None) -> Handoff:
    store = store or build_store(settings)
    return Handoff(store, build_outbound(settings, store), rasa or rasa_client(settings), handoff_policy(settings))


def build_gateway(settings: Settings, handoff: Handoff | None = None) -> Gateway:
    rasa = rasa_client(settings)
    return Gateway(rasa, handoff or build_handoff(settings, rasa=rasa))
