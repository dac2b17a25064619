"""Selects written in one pass: Django's `Select` renders a template for each of its options, which
on a record's page of the registry's 1,000 organisations was most of the page's time. `ListedSelect`
writes the same HTML (Django's `select.html` and `select_option.html`, less their whitespace) in
Python, so a list of choices costs microseconds an option, not a template render."""
from __future__ import annotations

from typing import Any

from django import forms
from django.utils.choices import BaseChoiceIterator
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe


def _attrs(attrs: dict[str, Any]) -> SafeString:
    """As `django/forms/widgets/attrs.html`: in order, a false value left out, a true one named alone."""
    return mark_safe("".join(format_html(" {}", name) if value is True else format_html(' {}="{}"', name, str(value))
                             for name, value in attrs.items() if value is not False))


class ListedSelect(forms.Select):
    """A `Select` whose options are written in one pass (same names, values, labels, selection and
    attributes as Django's templates give), straight from its choices: no option dictionaries, no
    template per option."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        widget = forms.Widget.get_context(self, name, value, attrs)["widget"]  # the select's own, as `Select`'s
        if self.allow_multiple_selected:
            widget["attrs"]["multiple"] = True
        chosen, has_selected, parts = set(widget["value"]), False, []
        for option_value, option_label in self.choices:  # as `ChoiceWidget.optgroups` reads them
            grouped = isinstance(option_label, (list, tuple))
            options = option_label if grouped else [("" if option_value is None else option_value, option_label)]
            listed = []
            for subvalue, sublabel in options:
                selected = (not has_selected or self.allow_multiple_selected) and str(subvalue) in chosen
                has_selected |= selected
                listed.append(f'<option value="{conditional_escape(str(subvalue))}"{" selected" if selected else ""}>'
                              f"{conditional_escape(sublabel)}</option>")
            written = "".join(listed)
            parts.append(f'<optgroup label="{conditional_escape(option_value)}">{written}</optgroup>' if grouped and option_value
                         else written)  # as `select.html`: a group without a name is not one
        return format_html('<select name="{}"{}>{}</select>', widget["name"], _attrs(widget["attrs"]), mark_safe("".join(parts)))


class ListedChoices(BaseChoiceIterator):
    """A foreign key's choices read once for the request, when first written: Django's
    `ModelChoiceIterator` reads the table again, through a server-side cursor of its own, each time a
    select is written (an inline's every row) and each time the admin builds the form (twice a page).
    The values are the records' keys as the select writes them; the field still checks a value sent
    against its queryset. Never copied: each form's field shares the one list, so a form that sets the
    field's queryset afterwards must set its choices too."""

    def __init__(self, field: forms.ModelChoiceField) -> None:
        self._field, self._choices = field, None

    def _listed(self) -> tuple[tuple[Any, Any], ...]:
        if self._choices is None:
            field = self._field
            empty = [] if field.empty_label is None else [("", field.empty_label)]
            self._choices = (*empty, *((str(field.prepare_value(obj)), field.label_from_instance(obj))
                                       for obj in field.queryset))
        return self._choices

    def __iter__(self) -> Any:
        return iter(self._listed())

    def __len__(self) -> int:
        return len(self._listed())

    def __copy__(self) -> ListedChoices:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ListedChoices:
        return self


class ListedSelects:
    """An admin (or inline) whose foreign keys shown as a plain select use `ListedSelect`, their
    choices read once (`ListedChoices`); those it shows otherwise (autocomplete, raw id, radio
    buttons) are left as they are."""

    def formfield_for_foreignkey(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        shown_otherwise = (*self.get_autocomplete_fields(request), *self.raw_id_fields, *self.radio_fields)
        listed = "widget" not in kwargs and db_field.name not in shown_otherwise
        if listed:
            kwargs["widget"] = ListedSelect
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if (listed and isinstance(field, forms.ModelChoiceField) and isinstance(field.widget, ListedSelect)
                and not field.limit_choices_to):  # a limit is applied to each form's own field, after this
            field.choices = ListedChoices(field)
        return field
