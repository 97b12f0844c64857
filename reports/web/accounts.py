"""Logging in and out: the log-in page knows who just signed up, logging out says so,
and the lock-out page says for how long (docs/security.md, "Log-in throttling")."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.signals import user_logged_out
from django.http import HttpRequest

# The session key under which sign-up leaves the username for the log-in form. Only this
# browser sees it, so it says nothing about whether the name was free.
SIGNED_UP_USERNAME = "signed_up_username"


def remember_signed_up(request: HttpRequest, username: str) -> None:
    """Fill the log-in form that follows a sign-up with the name just chosen."""
    request.session[SIGNED_UP_USERNAME] = username


class LoginView(auth_views.LoginView):
    """Django's log-in, with the username of a sign-up in this browser filled in (the
    password field then has the focus)."""

    def get_initial(self) -> dict[str, Any]:
        initial = super().get_initial()
        username = self.request.session.get(SIGNED_UP_USERNAME)
        if username and self.request.method == "GET":
            initial["username"] = username
        return initial

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        form = context["form"]
        if form.initial.get("username") and not form.is_bound:
            form.fields["username"].widget.attrs.pop("autofocus", None)
            form.fields["password"].widget.attrs["autofocus"] = True
        return context

    def form_valid(self, form: Any) -> Any:
        self.request.session.pop(SIGNED_UP_USERNAME, None)
        return super().form_valid(form)


def said_logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """The page after log-out says it happened (messages outlive the session: cookies)."""
    if request is not None and user is not None:
        messages.info(request, "You are logged out. Log in again below.")


def connect_signals() -> None:
    user_logged_out.connect(said_logged_out, dispatch_uid="reports-said-logged-out")
