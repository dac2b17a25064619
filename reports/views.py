"""Downloading a stored report: the file streamed as an attachment once its SHA-256 checks out."""
from __future__ import annotations

import hashlib

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse

from . import selectors
from .models import ReportArtifact

CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}


def file_sha256(artifact: ReportArtifact) -> str:
    digest = hashlib.sha256()
    with artifact.file.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def artifact_response(artifact: ReportArtifact) -> HttpResponse:
    """The stored file as an attachment; refused (409) if it no longer matches its SHA-256."""
    if file_sha256(artifact) != artifact.sha256:
        return HttpResponse(f"report {artifact.pk}: the stored file does not match its SHA-256 {artifact.sha256}",
                            status=409, content_type="text/plain; charset=utf-8")
    response = FileResponse(artifact.file.open("rb"), as_attachment=True, filename=artifact.filename,
                            content_type=CONTENT_TYPES.get(artifact.format, "application/octet-stream"))
    response["X-Report-SHA256"] = artifact.sha256
    return response


def download(request: HttpRequest, artifact_id: int) -> HttpResponse:
    try:
        artifact = selectors.artifact_for_download(artifact_id=artifact_id, user=request.user)
    except PermissionDenied:
        raise
    except ReportArtifact.DoesNotExist as exc:
        raise Http404(str(exc)) from None
    return artifact_response(artifact)
