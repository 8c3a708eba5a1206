"""Benchmarking local models: runs, statistics, quality checks and reports."""
