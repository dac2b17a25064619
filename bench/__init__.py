"""The benchmark harness: `manage.py bench` builds a synthetic registry in a database of its own and
measures the full re-evaluation against the database's own COPY rate (BENCHMARKS.md)."""
