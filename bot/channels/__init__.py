"""Channel adapters: each turns a platform update into (sender_id, text) for the gateway and renders the replies."""
