"""The snapshot has one definition: the payload, the API schema and the model agree."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from reports.domain.money import Cost
from reports.models import StreamingJob, StreamStatus
from reports.streams.selectors import stage_detail, stream_snapshot
from reports.streams.snapshot import StageDetail, StageSnapshot, StreamSnapshot

pytestmark = pytest.mark.django_db


def test_payload_keys_are_the_model_fields(make_stream: Any) -> None:
    stream = make_stream()
    snapshot = stream_snapshot(stream)
    assert list(snapshot) == list(StreamSnapshot.model_fields)
    assert all(list(stage) == list(StageSnapshot.model_fields) for stage in snapshot["stages"])
    detail = stage_detail(stream.stages.in_order().first())
    assert list(detail) == list(StageDetail.model_fields)
    # JSON-ready as it is: the consumers send it without an encoder of their own.
    assert json.loads(json.dumps(snapshot)) == snapshot


def test_api_schema_is_the_snapshot_model(client: Client) -> None:
    schemas = client.get("/api/openapi.json").json()["components"]["schemas"]
    assert set(schemas["StreamSnapshot"]["properties"]) == set(StreamSnapshot.model_fields)
    assert set(schemas["StageSnapshot"]["properties"]) == set(StageSnapshot.model_fields)
    assert set(schemas["StageDetail"]["properties"]) == set(StageDetail.model_fields)


def test_interrupted_for_pages_and_unattended_for_restarts(make_stream: Any) -> None:
    now = timezone.now()
    waiting: StreamingJob = make_stream()  # pending, no worker has claimed it yet
    assert waiting.is_unattended(now) and not waiting.is_interrupted(now)
    waiting.status = StreamStatus.RUNNING
    waiting.lease_expires_at = now + timedelta(seconds=30)
    assert not waiting.is_unattended(now) and not waiting.is_interrupted(now)
    waiting.lease_expires_at = now - timedelta(seconds=1)  # its runner died
    assert waiting.is_unattended(now) and waiting.is_interrupted(now)
    waiting.status = StreamStatus.FAILED
    assert not waiting.is_unattended(now) and not waiting.is_interrupted(now)


def test_page_and_api_money_follow_one_rule() -> None:
    assert (Cost(Decimal("0.0123")).label, Cost(Decimal("0.0123")).api) == ("$0.012", "0.012300")
    assert Cost(Decimal("0.01"), estimated=True).label == "≈ $0.010"
    assert (Cost(None).label, Cost(None).api) == ("no price set", None)
    assert (Cost(Decimal(0), free=True).label, Cost(Decimal(0), free=True).api) == (
        "free (offline)", "0.000000")
    assert [Cost(Decimal(v)).label for v in ("0", "0.5", "12.4", "1234.5", "0.00001")] == [
        "$0", "$0.50", "$12.40", "$1,235", "< $0.0001"]
