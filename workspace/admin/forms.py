"""The form a regulator drafts a rule version with: a YAML file uploaded, or its text pasted."""
from __future__ import annotations

from typing import Any

from django import forms

MAX_RULE_FILE_BYTES = 1_000_000


class DraftForm(forms.Form):
    file = forms.FileField(required=False, label="Rule file (YAML)",
                           help_text="A file in the format of docs/rule-files.md; it replaces the text below.")
    content = forms.CharField(required=False, label="Or its text",
                              widget=forms.Textarea(attrs={"rows": 30, "cols": 100, "spellcheck": "false",
                                                           "class": "rule-yaml"}))

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
    """A whole number written exactly and as briefly as it can be: `2e+24`, `3.8e+25` (as a float's
    repr writes them), `100000000000000000000000001` in full when every digit counts."""
    digits = str(number)
    significant = digits.rstrip("0")
    if number < 10**16 or significant == digits:  # plain digits where a float's repr writes them too
        return digits
    mantissa = significant[0] + (f".{significant[1:]}" if len(significant) > 1 else "")
    return f"{mantissa}e+{len(digits) - 1}"


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
