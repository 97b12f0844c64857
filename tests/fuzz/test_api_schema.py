"""Schemathesis against /api/openapi.json: every operation, generated input (valid and
not), a bearer token. No answer is a server error, and every answer has the documented
content type and shape. ``make test`` runs it on SQLite and again on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from reports.models import ApiToken

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]


@pytest.fixture
def token(user: User) -> str:
    return ApiToken.objects.issue(user=user, name="fuzz")


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_answers_within_its_contract(case: Any, token: str) -> None:
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    case.validate_response(response, checks=CHECKS)
