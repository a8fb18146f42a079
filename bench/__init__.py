"""Benchmarks: the real Parlor server against a bare Tornado baseline, in the same run."""
