"""Request bodies: JSON read so that no number changes on the way in (NaN, Infinity and 1e400
arrive as text for the field's validator to refuse by name), with a size cap."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from registry import jsonload

from .exceptions import PayloadTooLarge, too_large_detail


class InterchangeJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(too_large_detail())
        try:
            text = raw.decode((parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"malformed JSON: the body is not valid UTF-8 ({exc})") from None
        try:
            return jsonload.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"malformed JSON: {exc}") from None
