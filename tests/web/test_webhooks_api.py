"""The webhooks API: register (201 with id and secret), list, delete; owners only,
session with CSRF or a bearer token; private and loopback targets refused with 422."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from reports.models import Webhook, create_api_token
from reports.notify.targets import is_public
from tests.conftest import post_json

pytestmark = pytest.mark.django_db

PUBLIC_URL = "https://93.184.215.14/hooks/reportsite"  # an address literal: no DNS needed


def post(client: Client, body: Any) -> Any:
    return post_json(client, "/api/webhooks/", body)


def delete(client: Client, webhook_id: str) -> Any:
    token = client.cookies["csrftoken"].value
    return client.delete(f"/api/webhooks/{webhook_id}/", HTTP_X_CSRFTOKEN=token)


def test_register_list_and_delete(api: Client) -> None:
    created = post(api, {"url": PUBLIC_URL, "events": ["stream.completed", "stream.failed"]})
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 30
    assert body["url"] == PUBLIC_URL
    assert body["events"] == ["stream.completed", "stream.failed"]
    listed = api.get("/api/webhooks/").json()
    assert [w["id"] for w in listed] == [body["id"]]
    assert "secret" not in listed[0]  # shown once, at registration
    assert delete(api, body["id"]).status_code == 204
    assert api.get("/api/webhooks/").json() == []
    assert delete(api, body["id"]).status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",
    ],
)
def test_private_and_loopback_targets_are_refused(api: Client, url: str) -> None:
    response = post(api, {"url": url, "events": ["stream.completed"]})
    assert response.status_code == 422
    assert response.json()["error"] == "unsafe_target"
    assert not Webhook.objects.exists()


# IPv4 inside IPv6: each form the attack run got a 201 for (issue 32), then more of
# the same kinds. On a host with NAT64, 6to4 or Teredo these reach the embedded address.
EMBEDDED_IPV4 = [
    "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",  # NAT64 of the metadata address
    "http://[::127.0.0.1]/hook",  # IPv4-compatible
    "http://[::a9fe:a9fe]/hook",
    "http://[64:ff9b::127.0.0.1]/hook",
    "http://[64:ff9b::a00:1]/hook",  # NAT64 of 10.0.0.1
    "http://[64:ff9b:1::7f00:1]/hook",  # local-use NAT64 (RFC 8215)
    "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
    "http://[2002:a9fe:a9fe::]/hook",  # 6to4 of 169.254.169.254
    "http://[::ffff:0:7f00:1]/hook",  # IPv4-translated (the deprecated ::ffff:0:x form)
    "http://[::ffff:a9fe:a9fe]/hook",  # IPv4-mapped
    "http://[::ffff:0:c0a8:1]/hook",  # IPv4-translated 192.168.0.1
    "http://[::10.0.0.1]/hook",
    "http://[::]/hook",
    "http://[64:ff9b::c0a8:1]/hook",
    "http://[64:ff9b::6440:1]/hook",  # NAT64 of 100.64.0.1 (shared address space)
    "http://[64:ff9b:1::808:808]/hook",  # local use, whatever it embeds
    "http://[2002:a00:1::1]/hook",  # 6to4 of 10.0.0.1
    "http://[2002:c0a8:1::]/hook",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",  # Teredo
    "http://[2001:0:7f00:1::]/hook",
    "http://[fec0::1]/hook",  # site-local (deprecated, still routed inside some sites)
    "http://[ff02::1]/hook",  # multicast
    "http://[fd12:3456::1]/hook",
    "http://[2001:db8::1]/hook",
    "http://[100::1]/hook",
]


@pytest.mark.parametrize("url", EMBEDDED_IPV4)
def test_internal_addresses_inside_ipv6_are_refused(api: Client, url: str) -> None:
    response = post(api, {"url": url, "events": ["stream.completed"]})
    assert response.status_code == 422, response.content
    assert response.json()["error"] == "unsafe_target"
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://[64:ff9b::808:808]/hook",  # NAT64 of 8.8.8.8: public
        "http://[2002:808:808::1]/hook",  # 6to4 of 8.8.8.8
        "http://[::ffff:8.8.8.8]/hook",
        "http://[2606:4700::1111]/hook",
    ],
)
def test_public_addresses_inside_ipv6_are_accepted(api: Client, url: str) -> None:
    response = post(api, {"url": url, "events": ["stream.completed"]})
    assert response.status_code == 201, response.content


def test_private_targets_are_allowed_when_the_setting_says_so(api: Client, settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE = True
    response = post(api, {"url": "http://127.0.0.1:8000/hook", "events": ["stream.completed"]})
    assert response.status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"url": PUBLIC_URL, "events": []},
        {"url": PUBLIC_URL, "events": ["stage.delta"]},
        {"url": "ftp://93.184.215.14/x", "events": ["stream.completed"]},
        {"url": "https://user:pw@93.184.215.14/x", "events": ["stream.completed"]},
        {"url": "not a url", "events": ["stream.completed"]},
        {"url": "https://" + "a" * 2100 + ".com/", "events": ["stream.completed"]},
        {"url": "https://no-such-host.invalid/", "events": ["stream.completed"]},
        {"url": "http://[::1/", "events": ["stream.completed"]},
        {"events": ["stream.completed"]},
        {"url": 5, "events": "stream.completed"},
    ],
)
def test_bad_registrations_get_a_clear_422(api: Client, body: Any) -> None:
    response = post(api, body)
    assert response.status_code == 422, response.content
    assert response.json()["message"]


def test_owners_only(api: Client, other_user: User) -> None:
    mine = post(api, {"url": PUBLIC_URL, "events": ["stream.completed"]}).json()
    other = Client(enforce_csrf_checks=True)
    other.force_login(other_user)
    other.get("/accounts/login/")
    assert other.get("/api/webhooks/").json() == []
    assert delete(other, mine["id"]).status_code == 404
    assert Webhook.objects.filter(pk=mine["id"]).exists()
    assert Client().get("/api/webhooks/").status_code == 401


def test_session_requests_need_the_csrf_token(user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(
        "/api/webhooks/",
        json.dumps({"url": PUBLIC_URL, "events": ["stream.completed"]}),
        content_type="application/json",
    )
    assert response.status_code in (401, 403)
    assert not Webhook.objects.exists()


def test_a_bearer_token_works(user: User) -> None:
    auth = {"Authorization": f"Bearer {create_api_token(user=user)}"}
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/webhooks/",
        json.dumps({"url": PUBLIC_URL, "events": ["stream.cancelled"]}),
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 201
    assert Webhook.objects.get().owner == user
    assert client.delete(f"/api/webhooks/{response.json()['id']}/", headers=auth).status_code == 204


def test_the_schema_documents_the_webhook_paths(api: Client) -> None:
    paths = api.get("/api/openapi.json").json()["paths"]
    assert {"post", "get"} <= set(paths["/api/webhooks/"])
    assert "delete" in paths["/api/webhooks/{webhook_id}/"]


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True), ("2606:4700::1111", True), ("10.0.0.1", False),
        ("127.0.0.53", False), ("::1", False), ("fc00::1", False), ("224.0.0.1", False),
        ("::ffff:10.0.0.1", False), ("fe80::1%eth0", False), ("192.0.2.1", False),
        ("64:ff9b::a9fe:a9fe", False), ("64:ff9b::808:808", True), ("::ffff:0:7f00:1", False),
        ("2002:a9fe:a9fe::", False), ("2002:808:808::", True), ("64:ff9b:1::808:808", False),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False), ("::8.8.8.8", False),
        ("fec0::1", False), ("ff0e::1", False), ("255.255.255.255", False),
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(address) is public
