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
