"""The settings page: opt in to e-mail notices (a form that works without JavaScript),
linked from every page's navigation."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from reports.notify.preferences import wants_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_for(user: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf(client: Client) -> str:
    client.get("/settings/")
    return str(client.cookies["csrftoken"].value)


def test_the_nav_links_to_the_settings_page(client_for: Client) -> None:
    page = client_for.get("/settings/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'href="/settings/"' in html
    assert 'name="email_when_finished"' in html
    assert 'value="alice@example.com"' in html
    assert "checked" not in html  # off until the user turns it on


def test_opting_in_and_out(client_for: Client, user: User) -> None:
    token = csrf(client_for)
    saved = client_for.post(
        "/settings/", {"email": "alice@example.com", "email_when_finished": "on",
                       "csrfmiddlewaretoken": token},
    )
    assert saved.status_code == 302
    assert wants_email(user.pk)
    page = client_for.get(saved["Location"]).content.decode()
    assert "Settings saved." in page and "checked" in page
    client_for.post("/settings/", {"email": "alice@example.com", "csrfmiddlewaretoken": token})
    assert not wants_email(user.pk)


def test_opting_in_needs_an_address(client_for: Client, user: User) -> None:
    token = csrf(client_for)
    page = client_for.post(
        "/settings/", {"email": "", "email_when_finished": "on", "csrfmiddlewaretoken": token}
    )
    assert page.status_code == 200
    assert "Give an e-mail address" in page.content.decode()
    assert not wants_email(user.pk)
    bad = client_for.post(
        "/settings/", {"email": "not-an-address", "csrfmiddlewaretoken": token}
    )
    assert bad.status_code == 200 and "valid email" in bad.content.decode()
    user.refresh_from_db()
    assert user.email == "alice@example.com"


def test_the_form_needs_the_csrf_token_and_a_login(client_for: Client, user: User) -> None:
    refused = client_for.post("/settings/", {"email_when_finished": "on"})
    assert refused.status_code == 403
    assert not wants_email(user.pk)
    assert Client().get("/settings/").status_code == 302


def test_an_invalid_address_gets_one_error_not_two(client_for: Client, user: User) -> None:
    """Issue 31, item 17: "Enter a valid email address." and "Give an e-mail address"."""
    response = client_for.post("/settings/", {
        "csrfmiddlewaretoken": csrf(client_for), "email": "not-an-address",
        "email_when_finished": "on",
    })
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('class="error"') == 1 and "Enter a valid email address." in html
    assert "<title>Settings · Reportsite</title>" in html
    assert not wants_email(user.pk)
