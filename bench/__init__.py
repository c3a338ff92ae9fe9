"""Benchmarks, run by hand (python -m bench.<name>), never as timed tests."""
