"""Developer pages: the JavaScript client (``static/js/streaming-report.js``) at work."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
@login_required
def client_example(request: HttpRequest) -> HttpResponse:
    """A progress card built in the browser from the JSON API and its live events."""
    return render(request, "reports/client_example.html")
