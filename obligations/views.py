"""A fulfilment's document, served as it was uploaded (the API and the workspace both answer with this)."""
from __future__ import annotations

import hashlib

from django.http import FileResponse, HttpResponse

from .models import Fulfilment


def stored_sha256(fulfilment: Fulfilment) -> str:
    digest = hashlib.sha256()
    with fulfilment.document.open("rb") as stream:
        for chunk in iter(lambda: stream.read(64 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def document_response(fulfilment: Fulfilment) -> HttpResponse:
    """The document as an attachment under its own name, with `X-Document-SHA256`; 404 when the
    fulfilment has none, 409 when the stored file no longer matches the SHA-256 kept with it."""
    if not fulfilment.document:
        return HttpResponse(f"fulfilment {fulfilment.pk} has no document", status=404,
                            content_type="text/plain; charset=utf-8")
    try:
        matches = stored_sha256(fulfilment) == fulfilment.document_sha256
    except OSError:
        matches = False
    if not matches:
        return HttpResponse(f"fulfilment {fulfilment.pk}: the stored document does not match its SHA-256 "
                            f"{fulfilment.document_sha256}", status=409, content_type="text/plain; charset=utf-8")
    response = FileResponse(fulfilment.document.open("rb"), as_attachment=True,
                            filename=fulfilment.document_name or "document",
                            content_type="application/octet-stream")
    response["X-Document-SHA256"] = fulfilment.document_sha256
    return response
