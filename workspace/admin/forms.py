"""The form a regulator drafts a rule version with: a YAML file uploaded, or its text pasted."""
from __future__ import annotations

from typing import Any

from django import forms
from django.urls import reverse
from django.utils.html import format_html

MAX_RULE_FILE_BYTES = 1_000_000


class DraftForm(forms.Form):
    file = forms.FileField(required=False, label="Rule file (YAML)")
    content = forms.CharField(required=False, label="Or its text",
                              widget=forms.Textarea(attrs={"rows": 30, "cols": 100, "spellcheck": "false",
                                                           "class": "rule-yaml"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = format_html(
            'A file in <a href="{}">the rule file format</a>; it replaces the text below.',
            reverse("admin:rules_ruleversion_format"))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload = data.get("file")
        if upload is not None:
            if upload.size > MAX_RULE_FILE_BYTES:
                raise forms.ValidationError({"file": f"larger than {MAX_RULE_FILE_BYTES:,} bytes; a rule file is far smaller"})
            try:
                data["content"] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                raise forms.ValidationError({"file": "not UTF-8 text; a rule file is YAML written in UTF-8"}) from None
            data["origin_name"] = upload.name
        if not (data.get("content") or "").strip():
            raise forms.ValidationError({"content": "paste the rule file's YAML here, or choose a file above"})
        return data


def exact_text(number: int) -> str:
    """A whole number written exactly, in the scientific notation the read-only pages use from ten
    million: `2e24`, `3.8e25`, `4.05e11`, and `1.00000000000000000000000001e26` when every digit
    counts; below ten million as digits (`16384`). It reads back as the same number."""
    if abs(number) < 10**7:
        return str(number)
    digits = str(abs(number))
    significant = digits.rstrip("0")
    mantissa = significant[0] + (f".{significant[1:]}" if len(significant) > 1 else "")
    return f"{'-' if number < 0 else ''}{mantissa}e{len(digits) - 1}"


# The modalities a model's form offers as checkboxes: those the EU AI Act's indicative criterion
# reads (rules/library/eu-ai-act), then any other a record already declares.
MODALITIES = (("text", "Text"), ("image", "Image"), ("audio", "Audio"), ("video", "Video"))


class ModalitiesField(forms.MultipleChoiceField):
    """A model's modalities as checkboxes, stored as the interchange's list of names."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, *, declared: list[str] | None = None, **kwargs: Any) -> None:
        known = dict(MODALITIES)
        extra = [(name, name) for name in declared or [] if name not in known]
        super().__init__(choices=[*MODALITIES, *extra], required=False, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, str):  # a JSON text, as the admin's form may hold it
            import json

            try:
                value = json.loads(value)
            except ValueError:
                return []
        return list(value or [])


class ExactNumberField(forms.FloatField):
    """A figure of a registry record, read and shown exactly as written: a whole number of any size
    stays an int (100000000000000000000000000001 is not rounded to 1e26), anything else is a float
    that writes the same decimal. The registry's write path validates it further (ranges, units)."""

    def to_python(self, value: Any) -> int | float | None:
        from decimal import Decimal, InvalidOperation

        from registry.interchange import exact_figure

        if value in self.empty_values:
            return None
        text = str(value).strip()
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        if not number.is_finite():
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        try:
            return exact_figure(number)
        except (ValueError, OverflowError):
            raise forms.ValidationError(
                "give a whole number or at most 15 significant digits: this figure cannot be kept exactly otherwise",
                code="precision") from None

    def validate(self, value: Any) -> None:
        forms.Field.validate(self, value)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            from registry.facts import whole_or_float

            value = whole_or_float(value)
        return exact_text(value) if isinstance(value, int) and not isinstance(value, bool) else value

    def widget_attrs(self, widget: Any) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        attrs.pop("step", None)
        return attrs
