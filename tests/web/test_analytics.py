"""Analytics: numbers equal hand-computed values on a known fixture; staff only; CSV;
the page's query count does not grow with the data."""

from __future__ import annotations

import csv
import io
import itertools
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db.models import Sum
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from reports.models import AttemptStatus, Stage, StageAttempt, StageStatus, StreamingJob
from reports.web.analytics.queries import (
    ModelUse,
    Period,
    advise,
    per_day,
    retry_totals,
    stage_rows,
    stream_summary,
)
from reports.web.analytics.views import STAGE_COLUMNS

URL = reverse("reports:analytics")
D = Decimal


def stream(owner: User, status: str, *, job_type: str = "report", days_ago: int = 0) -> Any:
    made = StreamingJob.objects.create(type=job_type, job_id=uuid.uuid4(), owner=owner,
                                       title="T", status=status)
    if days_ago:
        StreamingJob.objects.filter(pk=made.pk).update(
            created_at=timezone.now() - timedelta(days=days_ago))
    return made


def stage(parent: StreamingJob, key: str, status: str, *, seconds: float | None = None,
          started: bool = True, model: str = "gpt-4o", tokens: tuple[int, int] = (0, 0),
          cost: str = "0", attempts: int = 1, error_kind: str = "",
          attempt_errors: tuple[str, ...] = ()) -> Stage:
    """A stage row, and its attempts: ``attempt_errors`` failed ones, then the last one."""
    now = timezone.now()
    begin = now - timedelta(seconds=seconds or 1) if started else None
    made = Stage.objects.create(
        stream=parent, key=key, title=key.title(), position=["brief", "outline"].index(key)
        if key in ("brief", "outline") else 5, status=status, model=model if started else "",
        started_at=begin, finished_at=now if seconds is not None else None,
        tokens_in=tokens[0], tokens_out=tokens[1], cost_usd=D(cost), attempts=attempts,
        error_kind=error_kind)
    for number, kind in enumerate(attempt_errors, start=1):
        StageAttempt.objects.create(stage=made, number=number, status=AttemptStatus.FAILED,
                                    model=model, error_kind=kind)
    if started and len(attempt_errors) < attempts:
        ends: dict[str, str] = {StageStatus.COMPLETED: AttemptStatus.SUCCEEDED,
                                StageStatus.CANCELLED: AttemptStatus.CANCELLED}
        last = ends.get(status, AttemptStatus.RUNNING)
        StageAttempt.objects.create(stage=made, number=attempts, status=last, model=model)
    return made


def settle(parent: StreamingJob) -> None:
    """Stream totals = the sum of its stages (as the engine keeps them)."""
    totals = parent.stages.aggregate(i=Sum("tokens_in"), o=Sum("tokens_out"), c=Sum("cost_usd"))
    StreamingJob.objects.filter(pk=parent.pk).update(
        tokens_in=totals["i"] or 0, tokens_out=totals["o"] or 0, cost_usd=totals["c"] or 0)


@pytest.fixture
def fixture(user: User) -> Period:
    """Five report streams today (hand-computed expectations in the tests), plus two
    that must not count: one 60 days old and one of another job type."""
    s1, s2 = stream(user, "completed"), stream(user, "completed")
    s3, s4, s5 = stream(user, "failed"), stream(user, "cancelled"), stream(user, "running")
    stage(s1, "brief", "completed", seconds=10, tokens=(1000, 2000), cost="0.0225")
    stage(s2, "brief", "completed", seconds=20, model="gpt-4o-mini", tokens=(1000, 2000),
          cost="0.00135", attempts=2, attempt_errors=("rate_limit",))
    stage(s3, "brief", "completed", seconds=30, tokens=(1000, 2000), cost="0.0225")
    stage(s4, "brief", "cancelled", seconds=5, tokens=(500, 0), cost="0.00125")
    stage(s5, "brief", "running")
    stage(s1, "outline", "completed", seconds=60, tokens=(2000, 1000), cost="0.015")
    stage(s2, "outline", "completed", seconds=100, tokens=(2000, 1000), cost="0.015")
    stage(s3, "outline", "failed", seconds=3, tokens=(6000, 3000), cost="0.045", attempts=3,
          error_kind="invalid_output", attempt_errors=("invalid_output",) * 3)
    stage(s4, "outline", "pending", started=False)
    stage(s5, "outline", "pending", started=False)
    old, other = stream(user, "completed", days_ago=60), stream(user, "completed", job_type="x")
    for ignored in (old, other):
        stage(ignored, "brief", "failed", seconds=1000, tokens=(9, 9), cost="1", attempts=2,
              error_kind="auth", attempt_errors=("auth", "auth"))
    for each in (s1, s2, s3, s4, s5, old, other):
        settle(each)
    return Period.last_days(30, job_type="report")


def test_stream_summary(fixture: Period) -> None:
    summary = stream_summary(fixture)
    assert (summary["streams"], summary["completed"], summary["failed"], summary["cancelled"],
            summary["active"]) == (5, 2, 1, 1, 1)
    assert summary["completion_rate"] == pytest.approx(2 / 4)
    assert summary["failure_rate"] == pytest.approx(1 / 4)
    assert summary["cancel_rate"] == pytest.approx(1 / 4)
    assert summary["tokens_in"] == 13500 and summary["tokens_out"] == 11000
    assert summary["cost_usd"] == D("0.1226")


def test_stage_funnel_rates_and_percentiles(fixture: Period) -> None:
    brief, outline = stage_rows(fixture)
    assert (brief.key, outline.key) == ("brief", "outline")
    assert (brief.started, brief.completed, brief.failed, brief.cancelled) == (5, 3, 0, 1)
    assert (outline.started, outline.completed, outline.failed, outline.cancelled) == (3, 2, 1, 0)
    assert brief.completion_rate == pytest.approx(3 / 5) and brief.failure_rate == 0
    assert outline.completion_rate == pytest.approx(2 / 3)
    assert outline.failure_rate == pytest.approx(1 / 3)
    # Nearest rank: p50 of [10, 20, 30] is 20, p95 is 30; of [60, 100]: 60 and 100.
    assert (brief.p50_s, brief.p95_s) == (pytest.approx(20), pytest.approx(30))
    assert (outline.p50_s, outline.p95_s) == (pytest.approx(60), pytest.approx(100))


def test_tokens_cost_share_errors_and_retries(fixture: Period) -> None:
    brief, outline = stage_rows(fixture)
    assert (brief.tokens_in, brief.tokens_out, brief.cost_usd) == (3500, 6000, D("0.0476"))
    assert (outline.tokens_in, outline.tokens_out, outline.cost_usd) == (10000, 5000, D("0.075"))
    assert brief.cost_share == pytest.approx(0.0476 / 0.1226)
    assert outline.cost_share == pytest.approx(0.075 / 0.1226)
    assert brief.attempt_errors == [("rate_limit", 1)] and brief.stage_errors == []
    assert outline.attempt_errors == [("invalid_output", 3)]
    assert outline.stage_errors == [("invalid_output", 1)]
    assert (brief.retried, brief.retried_completed, brief.retry_success_rate) == (1, 1, 1.0)
    assert (outline.retried, outline.retried_completed, outline.retry_success_rate) == (1, 0, 0)
    assert retry_totals([brief, outline])["retry_success_rate"] == pytest.approx(0.5)
    assert [(m.model, m.started, m.completed) for m in brief.models] == [
        ("gpt-4o", 4, 2), ("gpt-4o-mini", 1, 1)]
    assert brief.advice is None  # one run of gpt-4o-mini is too few to advise on


def test_per_day(fixture: Period) -> None:
    (today,) = per_day(fixture)
    assert today["day"] == timezone.localdate()
    assert (today["streams"], today["tokens_in"], today["tokens_out"]) == (5, 13500, 11000)
    assert today["cost_usd"] == D("0.1226")


def test_all_types_and_date_range(fixture: Period) -> None:
    everything = Period(job_type="", start=fixture.start - timedelta(days=90), end=fixture.end)
    assert stream_summary(everything)["streams"] == 7
    assert {(r.job_type, r.key) for r in stage_rows(everything)} == {
        ("report", "brief"), ("report", "outline"), ("x", "brief")}
    assert len(per_day(everything)) == 2


def use(model: str, started: int, completed: int, cost: str = "0.0625") -> ModelUse:
    return ModelUse(model, started, completed, 5000 * started // 5, 5000 * started // 5, D(cost))


def test_advice_finds_a_cheaper_model_that_did_as_well() -> None:
    advice = advise([use("gpt-4o", 5, 4), use("claude-haiku-4-5", 5, 3, "0.01"),
                     use("gpt-4o-mini", 5, 4, "0.001"), use("unpriced-model", 9, 9, "0")])
    assert advice is not None and advice.cheaper == "gpt-4o-mini"
    # Same tokens (5000 in, 5000 out): gpt-4o $0.0625, gpt-4o-mini $0.00375.
    assert advice.saving_share == pytest.approx(1 - 0.00375 / 0.0625)
    assert advice.saving_usd == D("0.058750")
    assert (advice.current_rate, advice.cheaper_rate, advice.runs) == (0.8, 0.8, 5)


def test_no_advice_when_cheaper_models_fail_more_or_ran_too_little() -> None:
    assert advise([use("gpt-4o", 5, 5), use("gpt-4o-mini", 5, 4)]) is None  # 80% < 95%
    assert advise([use("gpt-4o", 5, 5), use("gpt-4o-mini", 4, 4)]) is None  # too few runs
    assert advise([use("gpt-4o-mini", 5, 5), use("gpt-4o", 5, 5)]) is None  # not cheaper


@pytest.fixture
def staff_client(staff_user: User) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


def test_only_staff_see_analytics(client: Client, user: User, staff_client: Client) -> None:
    anonymous = client.get(URL)
    assert anonymous.status_code == 302 and reverse("login") in anonymous["Location"]
    client.force_login(user)
    assert client.get(URL).status_code == 403
    assert client.get(URL, {"format": "csv"}).status_code == 403
    assert staff_client.get(URL).status_code == 200


def test_page_shows_numbers_charts_and_advice(staff_client: Client, fixture: Period) -> None:
    html = staff_client.get(URL, {"type": "report"}).content.decode()
    for text in ("<svg", "Stage funnel", "p50 and p95", "Cost per day", "60.0%", "66.7%",
                 "20 s", "1 min 40 s", "invalid_output (3)", "rate_limit (1)", "50.0%",
                 "$0.12", "39% of the spend", "format=csv&amp;table=stages"):
        assert text in html, text


def test_csv_has_the_same_numbers(staff_client: Client, fixture: Period) -> None:
    response = staff_client.get(URL, {"type": "report", "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["stage"] for r in rows] == ["brief", "outline"]
    assert rows[1]["completion rate"] == "0.6667" and rows[1]["p95 duration (s)"] == "100.0"
    assert rows[0]["cost (USD)"] == "0.047600" and rows[0]["retry success rate"] == "1.0"
    summary = staff_client.get(URL, {"type": "report", "format": "csv", "table": "summary"})
    metrics = dict(csv.reader(io.StringIO(summary.content.decode())))
    assert metrics["cancel_rate"] == "0.25" and metrics["streams"] == "5"
    days = staff_client.get(URL, {"type": "report", "format": "csv", "table": "days"})
    assert timezone.localdate().isoformat() in days.content.decode()


def test_bad_filters_are_form_errors_not_500s(staff_client: Client) -> None:
    page = staff_client.get(URL, {"start": "2026-02-01", "end": "2026-01-01"})
    assert page.status_code == 200
    assert "The start date is after the end date." in page.content.decode()
    assert staff_client.get(URL, {"start": "not a date", "format": "csv"}).status_code == 400
    assert staff_client.get(URL, {"type": "nope", "format": "csv"}).status_code == 400
    assert staff_client.get(URL, {"format": "csv", "table": "nope"}).status_code == 400


def test_admin_index_links_to_analytics(staff_user: User) -> None:
    root = User.objects.create_superuser("root", "root@example.com", "correct-horse-battery")
    client = Client()
    client.force_login(root)
    assert URL in client.get(reverse("admin:index")).content.decode()


# The page's queries: session and user, then one per panel (the forecasts' included).
PAGE_QUERIES = 11


def test_page_query_count_does_not_grow_with_data(
    staff_client: Client, fixture: Period, user: User, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(PAGE_QUERIES):
        assert staff_client.get(URL).status_code == 200
    for i in range(40):
        more = stream(user, "completed" if i % 2 else "failed")
        stage(more, "brief", "completed", seconds=i + 1, tokens=(10, 10), cost="0.001")
        stage(more, "outline", "failed", seconds=1, error_kind="timeout", attempts=2,
              attempt_errors=("timeout", "timeout"), model="gpt-4o-mini")
    with django_assert_max_num_queries(PAGE_QUERIES):
        assert staff_client.get(URL).status_code == 200
    with django_assert_max_num_queries(PAGE_QUERIES):
        assert staff_client.get(URL, {"format": "csv"}).status_code == 200


def test_the_per_stage_table_shows_what_is_read_first_and_the_rest_behind_a_toggle(
    staff_client: Client, fixture: Period
) -> None:
    html = staff_client.get(URL, {"type": "report"}).content.decode()
    first = html.split('id="stage-table"', 1)[1].split("</table>", 1)[0]
    headers = first.split("<tbody>", 1)[0]
    assert headers.count("<th scope") == 8
    for name in ("stage", "completion rate", "p95 duration (s)", "cost share"):
        assert f">{name}</th>" in headers
    assert "retry success rate" not in headers
    full = html.split('<details class="more-columns">', 1)[1].split("</details>", 1)[0]
    assert full.count('<th scope="col">') == len(STAGE_COLUMNS) > 8
    assert "retry success rate" in full


def test_reasks_are_counted_per_stage(staff_client: Client, fixture: Period) -> None:
    # The failed outline was re-asked twice, one completed brief once.
    Stage.objects.filter(key="outline", status=StageStatus.FAILED).update(reasks=2)
    Stage.objects.filter(key="brief", attempts=2).update(reasks=1)
    rows = {row.key: row for row in stage_rows(fixture)}
    assert (rows["brief"].reasks, rows["outline"].reasks) == (1, 2)
    assert retry_totals(list(rows.values()))["reasks"] == 3
    response = staff_client.get(URL, {"type": "report", "format": "csv"})
    table = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["re-asks"] for r in table] == ["1", "2"]
    assert "Re-asks (JSON not valid)" in staff_client.get(URL, {"type": "report"}).content.decode()


def test_a_forks_copied_stages_and_edits_are_not_counted_again(
    user: User, fixture: Period
) -> None:
    before = stage_rows(fixture)
    fork = stream(user, "completed")
    Stage.objects.filter(pk=stage(fork, "brief", "completed", seconds=1000, tokens=(7, 7),
                                  cost="1", attempts=0).pk).update(source="copied")
    Stage.objects.filter(pk=stage(fork, "outline", "completed", seconds=1, attempts=0).pk
                         ).update(source="edited")
    assert stage_rows(fixture) == before


def test_a_stream_that_failed_and_was_resumed_counts_as_failed(user: User) -> None:
    """Issue 31, item 8: it counted as 0 failed (0.0%)."""
    resumed = stream(user, "completed")
    stage(resumed, "brief", "completed", seconds=2, attempts=2, attempt_errors=("auth",))
    summary = stream_summary(Period.last_days(30))
    assert (summary["failed"], summary["recovered"], summary["failed_now"]) == (1, 1, 0)
    assert summary["failure_rate"] == pytest.approx(1.0)


def test_charts_write_durations_and_costs_the_one_way_and_labels_do_not_overlap(
    user: User, staff_client: Client
) -> None:
    """Issue 31, item 8: duration labels read "0.000975", zero cost "$0", and the
    cost-per-day axis labels overlapped."""
    from reports.web.analytics.views import LABEL_GAP, column_chart

    done = stream(user, "completed")
    stage(done, "brief", "completed", seconds=0.000975, model="offline", tokens=(10, 20))
    html = staff_client.get(URL).content.decode()
    assert "0.000975" not in html and "&lt; 1 s" in html
    assert "free (offline)" in html and "$0<" not in html and "$0 " not in html
    for days in range(2, 40):
        chart = column_chart("c", [(f"{n:02d} Dec", 1.0, "") for n in range(days)], "cost")
        xs = [x for x, y, _, anchor in chart.labels if anchor == "middle"]
        assert all(b - a >= LABEL_GAP for a, b in itertools.pairwise(xs)), days
