"""Rasa custom actions: thin adapters over ``bot`` use cases."""
