"""The navigation lists the registered job types: the layout knows none by name."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from reports.pipelines import registry


def test_every_job_type_with_a_page_is_in_the_nav(client: Client, user: Any) -> None:
    client.force_login(user)
    html = client.get(reverse("client_report:job_list")).content.decode()
    nav = html.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    assert '<a href="/">Reports</a>' in nav
    assert '<a href="/starmap/">Starmaps</a>' in nav
    assert nav.index("Reports") < nav.index("Starmaps")


def test_a_job_type_without_a_page_is_left_out(client: Client, user: Any) -> None:
    starmap = registry.get_pipeline("starmap")
    registry.unregister("starmap")
    try:
        client.force_login(user)
        html = client.get(reverse("client_report:job_list")).content.decode()
    finally:
        registry.register(starmap)
    assert "Starmaps" not in html
