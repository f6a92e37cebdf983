"""Benchmarks, installed as ``tokenizers_zoo.benchmarks`` and run through ``tzoo bench``.

Each prints a table and writes JSON + Markdown; targets are checked by reading those
figures, never by timed tests.
"""
