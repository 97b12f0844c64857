"""Error pages are the site's pages (header, icon), and say what happened."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client, RequestFactory
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db


def test_a_404_is_a_site_page_with_the_header_and_the_icon(client: Client, user: Any) -> None:
    client.force_login(user)
    response = client.get("/reports/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    html = response.content.decode()
    assert 'class="topbar"' in html and "Not found" in html
    assert '<link rel="icon" href="/static/favicon.svg"' in html


def test_a_500_is_a_site_page_not_django_s_bare_one() -> None:
    response = server_error(RequestFactory().get("/"))
    html = response.content.decode()
    assert response.status_code == 500
    assert 'class="topbar"' in html
    assert "Something went wrong" in html


def test_the_icon_is_served_and_favicon_ico_leads_to_it(client: Client) -> None:
    assert client.get("/static/favicon.svg").status_code == 200
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == "/static/favicon.svg"


def test_analytics_for_a_non_staff_user_says_why_and_logs_no_traceback(
    client: Client, user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client.force_login(user)
    with caplog.at_level(logging.INFO):
        response = client.get("/analytics/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "Analytics are for staff." in html and 'class="topbar"' in html
    assert not [record for record in caplog.records if record.exc_info]


def test_a_staff_page_links_the_admin_once_and_analytics_once(
    client: Client, staff_user: Any
) -> None:
    client.force_login(staff_user)
    html = client.get("/analytics/").content.decode()
    assert html.count('href="/admin/"') == 1
    assert html.count('href="/analytics/"') == 1
