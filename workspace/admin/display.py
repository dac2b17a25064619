"""Read-only pages show the registry's numbers in scientific notation with their unit (3.8e25 ops,
1.979e15 ops/s), never as 38000000000000000000000000.0."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rules.engine.formatting import format_quantity

SHOWN_SUFFIX = "_shown"


def _shown(field: str, unit: str, label: str) -> Callable[[Any, Any], str]:
    def shown(model_admin: Any, obj: Any) -> str:
        return format_quantity(getattr(obj, field), unit or None)

    shown.short_description = label  # type: ignore[attr-defined]
    return shown


class ScientificDisplayMixin:
    """`scientific_fields = {"training_compute_ops": "ops", ...}`: on a page the user may only view,
    these fields are shown through `<field>_shown`, which formats them with their unit."""

    scientific_fields: dict[str, str] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for field, unit in cls.scientific_fields.items():
            label = field.replace("_", " ").capitalize()  # the model field's default verbose name
            setattr(cls, field + SHOWN_SUFFIX, _shown(field, unit, label))

    def get_fieldsets(self, request: Any, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        return [
            (name, {**options, "fields": [self._shown_name(field) for field in options["fields"]]})
            for name, options in fieldsets
        ]

    def get_readonly_fields(self, request: Any, obj: Any = None) -> Any:
        readonly = super().get_readonly_fields(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return readonly
        return (*readonly, *(field + SHOWN_SUFFIX for field in self.scientific_fields))

    def _shown_name(self, field: Any) -> Any:
        if isinstance(field, (list, tuple)):
            return type(field)(self._shown_name(item) for item in field)
        return field + SHOWN_SUFFIX if field in self.scientific_fields else field
