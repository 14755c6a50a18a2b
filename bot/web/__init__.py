"""The web app: web chat at /chat, health at /healthz, the staff console and the channel webhooks."""
