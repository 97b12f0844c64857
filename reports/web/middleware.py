"""Requests the site refuses before any view runs, and the answers it gives them.

- A body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (declared, or sent chunked) is a 400 with
  no traceback in the log, and a NUL
  character in the path, the query string or a cookie is a 400: PostgreSQL cannot
  store one, and no page or operation has a use for it.
- Under ``/api/`` every error is the API's JSON body ``{"error", "message", "details"}``,
  including those Django answers itself (no such URL, method not allowed, CSRF).
- ``PermissionDenied`` is an answer (403), not a fault: logged as one line, no traceback;
  a CSRF failure is the site's 403 page (``csrf_failed`` under /api/).
- Pages for a signed-in user are never cached by the browser or a proxy.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.utils.cache import patch_cache_control

from reports.domain.config import config

API_PREFIX = "/api/"
NUL = "\x00"

CSRF_MESSAGES = {
    "api": "CSRF check failed: send the csrftoken cookie's value in an X-CSRFToken header, "
    "or use a bearer token.",
    "page": "This form has expired or your browser did not send its cookies: reload the "
    "page and try again.",
}

# The API's error codes for the statuses Django answers without reaching a view (the
# documented list: docs/api.md, "Errors").
ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    429: "rate_limited",
}
MESSAGES = {
    400: "The request is not valid.",
    401: "Log in (or send a valid bearer token) first.",
    403: "You may not do that.",
    404: "There is nothing here.",
    405: "This method is not allowed here.",
}

Handler = Callable[[HttpRequest], HttpResponse]


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def error_response(
    request: HttpRequest, status: int, code: str, message: str, *, template: str = "400.html"
) -> HttpResponse:
    """The error in the form the caller reads: JSON under /api/, a page elsewhere."""
    if is_api(request):
        return JsonResponse({"error": code, "message": message, "details": None}, status=status)
    return TemplateResponse(request, template, {"message": message}, status=status).render()


def _too_large(request: HttpRequest) -> bool:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return True
    limit = config().upload_max_bytes
    if limit is not None and declared > limit:
        return True
    if declared:
        return False
    # No length declared (Transfer-Encoding: chunked): measure what was sent, here, so
    # no later reader (the CSRF check, a view) meets RequestDataTooBig and logs it.
    try:
        request.body  # noqa: B018
    except RequestDataTooBig:
        return True
    return False


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Django's CSRF_FAILURE_VIEW: the site's 403 page, or under /api/ ``csrf_failed``."""
    message = CSRF_MESSAGES["api" if is_api(request) else "page"]
    return error_response(request, 403, "csrf_failed", message, template="403.html")


def _has_nul(request: HttpRequest) -> bool:
    query = request.META.get("QUERY_STRING", "")
    cookies = request.META.get("HTTP_COOKIE", "")
    return NUL in request.path or NUL in query or "%00" in query or NUL in cookies


class RequestGuardMiddleware:
    """First in the chain: refuse what no view should see, answer errors readably."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _too_large(request):
            return self._body_too_large(request)
        if _has_nul(request):
            return error_response(
                request, 400, "bad_request", "The address contains a NUL character."
            )
        response = self.get_response(request)
        if is_api(request) and response.status_code >= 400 and not _is_json(response):
            return self._as_json(response)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, PermissionDenied):
            message = str(exception) or MESSAGES[403]
            return error_response(request, 403, "forbidden", message, template="403.html")
        if isinstance(exception, RequestDataTooBig):
            return self._body_too_large(request)
        return None

    @staticmethod
    def _body_too_large(request: HttpRequest) -> HttpResponse:
        limit_kib = (config().upload_max_bytes or 0) // 1024
        return error_response(
            request, 400, "too_large", f"The request body is over {limit_kib} KiB."
        )

    @staticmethod
    def _as_json(response: HttpResponse) -> HttpResponse:
        status = response.status_code
        code = ERROR_CODES.get(status, "server_error" if status >= 500 else "bad_request")
        message = MESSAGES.get(status, response.reason_phrase)
        if status >= 500:
            message = "Something went wrong on our side; the error is logged."
        body = {"error": code, "message": message, "details": None}
        json_response = HttpResponse(
            json.dumps(body), status=status, content_type="application/json"
        )
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                json_response[header] = response[header]
        return json_response


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


class PrivatePagesMiddleware:
    """``Cache-Control: private, no-store`` on every response to a signed-in user."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and "Cache-Control" not in response:
            patch_cache_control(response, private=True, no_store=True)
        return response
