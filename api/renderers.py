"""JSON out: strict JSON has no NaN or infinity, so a non-finite number is rendered as null."""
from __future__ import annotations

import json
import math
from typing import Any

from rest_framework.renderers import JSONRenderer


def finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


class FiniteJSONRenderer(JSONRenderer):
    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict[str, Any] | None = None) -> bytes:
        data = finite(data)
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:  # a lone surrogate echoed from the request: escape it
            return json.dumps(data, cls=self.encoder_class, ensure_ascii=True, allow_nan=False).encode("ascii")
