"""Benchmarks: each prints a table of figures (see docs/benchmarks.md)."""
