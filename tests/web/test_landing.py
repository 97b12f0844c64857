"""A visitor who is not logged in learns what the site does before the login form."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_a_logged_out_visitor_lands_on_what_the_site_does_then_sign_up_or_log_in(
    client: Client,
) -> None:
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/")
    main = response.content.decode().split("<main", 1)[1]
    intro, form = main.split('id="login-title"', 1)
    assert "client reports" in intro and "stage" in intro
    assert 'href="/accounts/signup/"' in intro
    assert 'name="password"' in form
