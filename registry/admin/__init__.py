"""The registry in the regulator's admin: lists with filters and search, topology inlines, each
record's revision history and status page. An edit here is kept as a new revision, like any
submission; a lab member sees only its organisation's records."""
from . import records  # noqa: F401  (registers the model admins)
