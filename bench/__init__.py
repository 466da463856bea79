"""Reproducible benchmarks of bgtask-mcp against the embedded DMS simulator: ``python -m bench [--quick]``.

Results go to bench/results/ (results.md, results.png, results.json); see bench/run.py for what is measured.
"""
