"""The web app: web chat at /chat, health at /healthz (staff console and webhooks come later)."""
