"""Rasa custom actions: thin adapters over ``legal_triage`` services."""
