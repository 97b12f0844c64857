"""``/healthz``: what a load balancer sees when the services answer, and when one does not."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_healthy_site_answers_200_with_its_checks(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] and body["checks"]["channel_layer"]["ok"]


def test_an_unreachable_channel_layer_answers_503_naming_it(
    client: Client, settings: Any
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "reports.events.channel_layer.BatchedRedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{port}/0"]},
        }
    }
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["channel_layer"]["ok"] is False
    assert body["checks"]["channel_layer"]["error"]  # the failure's kind, nothing more
