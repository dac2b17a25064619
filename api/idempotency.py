"""`Idempotency-Key` on POST: the first answer is stored with the write, in the same transaction,
and a retry with the same key and body gets that answer again without writing anything.

The same key with a different body or endpoint is a 409. Only successful answers are kept: a
refused request wrote nothing, and its retry is judged afresh. A key answers retries for
`API_IDEMPOTENCY_KEY_TTL_HOURS`; after that it is a new key (its old record is dropped when it is
used again, and the daily purge removes the rest), so the records do not grow without end.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
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


def expired_before() -> datetime:
    """Records created before this instant no longer answer retries."""
    return timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_KEY_TTL_HOURS)


def purge_expired(*, batch_size: int = 10_000) -> int:
    """Deletes the records that no longer answer retries, a batch at a time; returns how many."""
    cutoff = expired_before()
    removed = 0
    while True:
        ids = list(IdempotencyRecord.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:batch_size])
        if not ids:
            return removed
        removed += IdempotencyRecord.objects.filter(pk__in=ids).delete()[0]


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
            if found is not None and found.created_at < expired_before():
                found.delete()  # past its time: the key starts afresh
                found = None
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
