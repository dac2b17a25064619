"""`Idempotency-Key` on POST: the first answer is stored with the write, in the same transaction,
and a retry with the same key and body gets that answer again without writing anything.

The same key with a different body or endpoint is a 409. Only successful answers are kept: a
refused request wrote nothing, and its retry is judged afresh.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.db import IntegrityError, transaction
from rest_framework.response import Response

from .exceptions import Conflict, FieldErrors
from .models import IdempotencyRecord
from .renderers import finite

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_HEADERS = ("ETag", "Location")
MAX_KEY_LENGTH = 255


def _fingerprint(request: Any) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _key(request: Any) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise FieldErrors([{"field": HEADER, "message": f"must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"}])
    return key


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.request_sha256 != fingerprint:
        raise Conflict(
            f"{HEADER} {record.key!r} was used for a different request ({record.method} {record.path}); "
            "use a new key for a new request"
        )
    body = json.loads(record.response_json) if record.response_json else None
    response = Response(body, status=record.status, headers=dict(record.response_headers))
    response[REPLAYED_HEADER] = "true"
    return response


def idempotent(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Wraps a POST handler of an APIView (or viewset) with `Idempotency-Key` handling."""

    @wraps(handler)
    def wrapper(self: Any, request: Any, *args: Any, **kwargs: Any) -> Response:
        key = _key(request)
        if key is None:
            return handler(self, request, *args, **kwargs)
        fingerprint = _fingerprint(request)
        with transaction.atomic():
            found = IdempotencyRecord.objects.select_for_update().filter(user=request.user, key=key).first()
            if found is not None:
                return _replay(found, fingerprint)
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        key=key, user=request.user, method=request.method, path=request.path[:500],
                        request_sha256=fingerprint, status=0,
                    )
            except IntegrityError:
                # A concurrent request with this key committed first: answer as it did.
                return _replay(IdempotencyRecord.objects.get(user=request.user, key=key), fingerprint)
            response = handler(self, request, *args, **kwargs)
            if 200 <= response.status_code < 300:
                record.status = response.status_code
                record.response_json = json.dumps(finite(response.data), default=str)
                record.response_headers = {name: response[name] for name in KEPT_HEADERS if response.has_header(name)}
                record.save(update_fields=["status", "response_json", "response_headers"])
            else:
                transaction.set_rollback(True)
        return response

    return wrapper
