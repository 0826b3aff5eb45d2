"""Benchmarks: each module ``signals.bench.<name>`` defines ``add_arguments(parser)`` and
``run(args) -> dict``; ``signals bench NAME --json`` prints that dict as one JSON object on the last
line of stdout (docs/architecture.md, "Conventions"). Each measures the project and its peer in
the same run; :mod:`signals.bench._common` is the harness they share (seeds by role, inputs by
content digest, the record every JSON starts with).
"""
