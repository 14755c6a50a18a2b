"""Channel adapters (Telegram, WeChat) — issue 4.

Every channel turns a platform update into a message for Rasa's REST channel through
``legal_triage.rasa_client.RasaClient`` and renders the replies back (buttons become numbered
options where a platform has none). The web chat and the terminal chat already do this:
``legal_triage/web/app.py`` and ``legal-triage chat``.
"""
