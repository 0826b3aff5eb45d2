"""Benchmarks: each module ``signals.bench.<name>`` defines ``add_arguments(parser)`` and
``run(args) -> dict``; ``signals bench NAME --json`` prints that dict as one JSON object on the last
line of stdout (DESIGN.md conventions). Each measures the project and its peer in the same run.
"""
