"""Benchmarks: a big desk on one small machine (issue 6).

`python -m benchmarks.generate` builds a large, realistic dataset through the store's
bulk loader; `python -m benchmarks.run` measures the figures in docs/benchmarks.md.
"""
