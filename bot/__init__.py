"""legal-triage: Chinese legal-consultation triage for a county Justice Bureau.

The package is the single import root for our own code. Nothing is created at import time:
factories in :mod:`bot.composition` build engines, indexes and models on demand.
"""

__version__ = "0.1.0"
