"""Selects written in one pass: Django's `Select` renders a template for each of its options, which
on a record's page of the registry's 1,000 organisations was most of the page's time. `ListedSelect`
writes the same HTML (Django's `select.html` and `select_option.html`, less their whitespace) in
Python, so a list of choices costs microseconds an option, not a template render."""
from __future__ import annotations

from typing import Any

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe


def _attrs(attrs: dict[str, Any]) -> SafeString:
    """As `django/forms/widgets/attrs.html`: in order, a false value left out, a true one named alone."""
    return mark_safe("".join(format_html(" {}", name) if value is True else format_html(' {}="{}"', name, str(value))
                             for name, value in attrs.items() if value is not False))


def _options(options: list[dict[str, Any]]) -> SafeString:
    return format_html_join("", '<option value="{}"{}>{}</option>',
                            ((str(option["value"]), _attrs(option["attrs"]), option["label"]) for option in options))


class ListedSelect(forms.Select):
    """A `Select` whose options are written in one pass (same names, values, labels, selection and
    attributes as Django's templates give)."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        parts = []
        for group_name, options, _index in widget["optgroups"]:
            listed = _options(options)
            parts.append(format_html('<optgroup label="{}">{}</optgroup>', group_name, listed) if group_name else listed)
        return format_html('<select name="{}"{}>{}</select>', widget["name"], _attrs(widget["attrs"]), mark_safe("".join(parts)))


class ListedSelects:
    """An admin (or inline) whose foreign keys shown as a plain select use `ListedSelect`; those it
    shows otherwise (autocomplete, raw id, radio buttons) are left as they are."""

    def formfield_for_foreignkey(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        shown_otherwise = (*self.get_autocomplete_fields(request), *self.raw_id_fields, *self.radio_fields)
        if "widget" not in kwargs and db_field.name not in shown_otherwise:
            kwargs["widget"] = ListedSelect
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
