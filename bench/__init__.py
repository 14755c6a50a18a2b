"""Benchmarks: measured on the real stack and the real-style questions; not part of the product package."""
