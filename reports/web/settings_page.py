"""The user's settings page: e-mail me when a stream completes or fails."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from reports.notify.preferences import email_opt_in, set_email_opt_in
from reports.web.views import AuthedRequest


class NotificationForm(forms.Form):
    email = forms.EmailField(
        required=False, max_length=254, label="E-mail address",
        help_text="Where notices go. Only you get them.",
    )
    email_when_finished = forms.BooleanField(
        required=False, label="E-mail me when one of my streams completes or fails",
        help_text="With a link to the document. Off unless you turn it on.",
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        # An address that is there but not valid has its own error: not a second one
        # saying there is none (issue 31, item 17).
        if data.get("email_when_finished") and not data.get("email") and "email" not in self.errors:
            self.add_error("email", "Give an e-mail address to get notices at.")
        return data


@require_http_methods(["GET", "POST"])
@login_required
def settings_page(request: AuthedRequest) -> HttpResponse:
    user = request.user
    initial = {"email": user.email, "email_when_finished": email_opt_in(user.pk)}
    form = NotificationForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["email"] != user.email:
            user.email = form.cleaned_data["email"]
            user.save(update_fields=["email"])
        set_email_opt_in(user_id=user.pk, enabled=form.cleaned_data["email_when_finished"])
        messages.success(request, "Settings saved.")
        return redirect("reports:settings")
    return render(request, "reports/settings.html", {"form": form})
