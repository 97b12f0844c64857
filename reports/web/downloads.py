"""Downloads named after a title in any script (docs/security.md, "Downloads")."""

from __future__ import annotations

import re
from urllib.parse import quote

from django.http import HttpResponse

from reports.documents.exports import FileName

_SAFE_FALLBACK = re.compile(r"[^A-Za-z0-9._-]")


def content_disposition(filename: FileName) -> str:
    """``attachment; filename="<ASCII>"; filename*=UTF-8''<percent-encoded>`` (RFC 6266):
    every browser reads ``filename*``, old clients the fallback; the header stays ASCII
    (Django would MIME-encode the whole header for anything outside Latin-1)."""
    fallback = _SAFE_FALLBACK.sub("-", filename.ascii) or "download"
    value = f'attachment; filename="{fallback}"'
    if filename.name != fallback:
        value += f"; filename*=UTF-8''{quote(filename.name, safe='')}"
    return value


def attachment(content: bytes | str, content_type: str, filename: FileName) -> HttpResponse:
    """A response that downloads ``content`` as ``filename``."""
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition(filename)
    return response
