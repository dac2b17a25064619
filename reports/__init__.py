"""Audit, registry and change reports, read from the decision log."""
