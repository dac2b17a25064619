"""Plain-dict contexts for the report templates: every value already formatted, nothing computed
in a template."""
from .audit import audit_context
from .changes import changes_context
from .registry import registry_context

__all__ = ["audit_context", "changes_context", "registry_context"]
