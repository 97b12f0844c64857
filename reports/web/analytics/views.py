"""The staff analytics page: funnel, rates, durations, errors, tokens and cost per stage
and per day, as SVG charts, tables and CSV (``?format=csv&table=stages|days|summary``)."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.validators import MaxValueValidator, MinValueValidator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.http import require_GET

from reports.domain.formats import duration_label, tokens_label
from reports.domain.money import Cost, usd_label
from reports.pipelines.registry import all_pipelines
from reports.providers.pricing import models_cost
from reports.web.analytics import queries as analytics
from reports.web.analytics.forecasts import forecast_accuracy
from reports.web.analytics.queries import Period, StageRow

MAX_DAYS = 366
# Dates far enough apart for any real period, near enough that date arithmetic holds.
EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)
DATE_BOUNDS = [MinValueValidator(EARLIEST), MaxValueValidator(LATEST)]
DATE_ATTRS = {"type": "date", "min": EARLIEST.isoformat(), "max": LATEST.isoformat()}
DEFAULT_DAYS = 30


class AnalyticsForm(forms.Form):
    """Which streams to look at: a job type (or all) and the days they were created."""

    type = forms.ChoiceField(required=False, label="Job type")
    start = forms.DateField(required=False, label="From", validators=DATE_BOUNDS,
                            widget=forms.DateInput(attrs=DATE_ATTRS))
    end = forms.DateField(required=False, label="To", validators=DATE_BOUNDS,
                          widget=forms.DateInput(attrs=DATE_ATTRS))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "All job types")] + [(p.type, p.title) for p in all_pipelines()]
        self.fields["type"].choices = choices  # type: ignore[attr-defined]
        default = Period.last_days(DEFAULT_DAYS)
        self.fields["start"].initial, self.fields["end"].initial = default.start, default.end

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        default = Period.last_days(DEFAULT_DAYS)
        end = data.get("end") or default.end
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError("The start date is after the end date.")
        if (end - start).days >= MAX_DAYS:
            raise forms.ValidationError(f"Choose at most {MAX_DAYS} days.")
        data["start"], data["end"] = start, end
        return data

    def period(self) -> Period:
        if not self.is_valid():
            return Period.last_days(DEFAULT_DAYS)
        data = self.cleaned_data
        return Period(job_type=data.get("type") or "", start=data["start"], end=data["end"])


# --- tables (the HTML table and the CSV share them) --------------------------------
Column = tuple[str, Callable[[Any], Any], str]

STAGE_COLUMNS: list[Column] = [
    ("job type", lambda r: r.job_type, "text"),
    ("stage", lambda r: r.key, "text"),
    ("started", lambda r: r.started, "int"),
    ("completed", lambda r: r.completed, "int"),
    ("failed", lambda r: r.failed, "int"),
    ("cancelled", lambda r: r.cancelled, "int"),
    ("completion rate", lambda r: r.completion_rate, "pct"),
    ("failure rate", lambda r: r.failure_rate, "pct"),
    ("p50 duration (s)", lambda r: r.p50_s, "sec"),
    ("p95 duration (s)", lambda r: r.p95_s, "sec"),
    ("tokens in", lambda r: r.tokens_in, "int"),
    ("tokens out", lambda r: r.tokens_out, "int"),
    ("tokens cached", lambda r: r.tokens_cached, "int"),
    ("cost (USD)", lambda r: r.cost, "usd"),
    ("saved by caching (USD)", lambda r: r.cache_saved_usd, "saving"),
    ("cost share", lambda r: r.cost_share, "pct"),
    ("retried", lambda r: r.retried, "int"),
    ("retry success rate", lambda r: r.retry_success_rate, "pct"),
    ("re-asks", lambda r: r.reasks, "int"),
    ("attempt errors", lambda r: _kinds(r.attempt_errors), "text"),
    ("stage errors", lambda r: _kinds(r.stage_errors), "text"),
    ("cheaper model", lambda r: r.advice.cheaper if r.advice else "", "text"),
]
# What a person reads first: the rest of STAGE_COLUMNS is behind a toggle and in the CSV.
STAGE_FIRST_COLUMNS = (
    "job type", "stage", "completion rate", "failure rate", "p50 duration (s)",
    "p95 duration (s)", "cost (USD)", "cost share",
)
DAY_COLUMNS: list[Column] = [
    ("day", lambda d: d["day"].isoformat(), "text"),
    ("streams", lambda d: d["streams"], "int"),
    ("tokens in", lambda d: d["tokens_in"], "int"),
    ("tokens out", lambda d: d["tokens_out"], "int"),
    ("cost (USD)", lambda d: d["cost"], "usd"),
]
SUMMARY_ITEMS: list[tuple[str, str, str]] = [
    ("streams", "Streams", "int"),
    ("completed", "Completed", "int"),
    ("failed", "Failed (at least once)", "int"),
    ("recovered", "Resumed after failing", "int"),
    ("cancelled", "Cancelled", "int"),
    ("active", "Still running", "int"),
    ("completion_rate", "Completion rate", "pct"),
    ("failure_rate", "Failure rate", "pct"),
    ("cancel_rate", "Cancel rate", "pct"),
    ("retry_success_rate", "Retry success rate", "pct"),
    ("reasks", "Re-asks (JSON not valid)", "int"),
    ("tokens_in", "Tokens in", "int"),
    ("tokens_out", "Tokens out", "int"),
    ("tokens_cached", "Tokens cached", "int"),
    ("cost_usd", "Cost (USD)", "usd"),
    ("cache_saved_usd", "Saved by prompt caching (USD)", "saving"),
]


def _kinds(counts: list[tuple[str, int]]) -> str:
    return ", ".join(f"{kind} ({n})" for kind, n in counts)


def raw(value: Any, kind: str) -> Any:
    """A value for the CSV: plain numbers (seconds, USD with six decimals), rates as
    fractions."""
    if isinstance(value, Cost):
        value = value.api
    if value is None:
        return ""
    if kind == "pct" or kind == "sec":
        return round(float(value), 4)
    if kind in ("usd", "saving"):
        return f"{Decimal(value):.6f}"
    return value


def shown(value: Any, kind: str) -> str:
    """A value for the page, written as every other page writes it
    (``reports/domain/formats.py``, ``reports/domain/money.py``)."""
    if isinstance(value, Cost):
        return value.label
    if value is None:
        return "-"
    if kind == "pct":
        return f"{float(value) * 100:.1f}%"
    if kind == "sec":
        return duration_label(float(value))
    if kind == "usd":
        return usd_label(Decimal(value))
    if kind == "saving":  # nothing saved (no cache, or a free model): no amount to show
        return usd_label(Decimal(value)) if value else "-"
    if kind == "int":
        return tokens_label(value)
    return str(value)


# --- charts (server-rendered SVG: geometry here, markup in the template) -----------
# Horizontal room (SVG units) a day label needs: "06 Dec" is about 40 at the chart's font.
LABEL_GAP = 56

@dataclass
class Rect:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass
class Chart:
    title: str
    width: int
    height: int
    rects: list[Rect]
    labels: list[tuple[float, float, str, str]]  # x, y, text, anchor
    legend: list[tuple[str, str]]  # css, text


def hbar_chart(title: str, rows: list[tuple[str, list[tuple[float, str, str]]]], *,
               stacked: bool = True, legend: list[tuple[str, str]] | None = None,
               value_label: Callable[[float], str] | None = None) -> Chart:
    """One labelled row per item; segments (value, css, title) stacked or overlaid."""
    label_w, bar_w, row_h = 190, 420, 24
    totals = [sum(v for v, _, _ in segs) if stacked else max((v for v, _, _ in segs), default=0)
              for _, segs in rows]
    scale = bar_w / max([*totals, 1e-9])
    rects: list[Rect] = []
    labels: list[tuple[float, float, str, str]] = []
    for index, ((label, segments), total) in enumerate(zip(rows, totals, strict=True)):
        y = index * row_h + 4
        x = float(label_w)
        labels.append((label_w - 8.0, y + 14, label, "end"))
        for value, css, tip in segments:
            width = value * scale
            rects.append(Rect(x if stacked else label_w, y, max(width, 0), row_h - 8, css, tip))
            if stacked:
                x += width
        labels.append((label_w + total * scale + 6, y + 14, (value_label or _short)(total),
                       "start"))
    return Chart(title, label_w + bar_w + 70, max(len(rows), 1) * row_h + 8, rects, labels,
                 legend or [])


def column_chart(title: str, points: list[tuple[str, float, str]], css: str,
                 value_label: Callable[[float], str] | None = None) -> Chart:
    """Vertical bars (a day each), labelled at both ends and every few days; no two
    labels closer than ``LABEL_GAP`` (they overlapped: "06 Dec07 Dec")."""
    width, height, base = 680, 180, 150
    step = (width - 40) / max(len(points), 1)
    scale = (base - 20) / max([v for _, v, _ in points] + [1e-9])
    rects: list[Rect] = []
    labels: list[tuple[float, float, str, str]] = []
    every = max(1, math.ceil(LABEL_GAP / step))
    last = len(points) - 1
    for index, (label, value, tip) in enumerate(points):
        x = 20 + index * step
        bar_h = value * scale
        bar_w = min(max(step - 2, 1), 48)  # a few days must not make slabs
        rects.append(Rect(x + (step - bar_w) / 2, base - bar_h, bar_w, bar_h, css, tip))
        # The last day always; a periodic one only when it leaves room before the last.
        if index == last or (index % every == 0 and last - index >= every):
            labels.append((x + step / 2, base + 16, label, "middle"))
    top = max([v for _, v, _ in points], default=0)
    labels.append((20, 12, f"max {(value_label or _short)(top)}", "start"))
    return Chart(title, width, height, rects, labels, [])


def _short(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def charts_for(period: Period, rows: list[StageRow], days: list[dict[str, Any]],
               models: list[str]) -> list[Chart]:
    def label(r: StageRow) -> str:
        return r.key if len({x.job_type for x in rows}) <= 1 else f"{r.job_type} · {r.key}"

    funnel = hbar_chart("Stage funnel: started stages by outcome", [
        (label(r), [
            (r.completed, "ok", f"{r.completed} completed"),
            (r.failed, "bad", f"{r.failed} failed"),
            (r.cancelled, "off", f"{r.cancelled} cancelled"),
            (max(r.started - r.completed - r.failed - r.cancelled, 0), "wait",
             "running or waiting to resume"),
        ]) for r in rows
    ], legend=[("ok", "completed"), ("bad", "failed"), ("off", "cancelled"), ("wait", "other")])
    durations = hbar_chart("Duration per stage: p50 and p95", [
        (label(r), [(r.p95_s or 0, "p95", f"p95 {duration_label(r.p95_s or 0)}"),
                    (r.p50_s or 0, "p50", f"p50 {duration_label(r.p50_s or 0)}")])
        for r in rows
    ], stacked=False, legend=[("p50", "p50"), ("p95", "p95")], value_label=duration_label)

    def money(value: float) -> str:
        return models_cost(models, Decimal(str(value))).label

    cost = hbar_chart("Cost per stage", [
        (label(r), [(float(r.cost_usd), "cost", r.cost.label)]) for r in rows
    ], value_label=money)
    by_day = {d["day"]: d for d in days}
    span = (period.end - period.start).days + 1
    every_day = [period.start + timedelta(days=n) for n in range(span)]
    empty = {"cost_usd": Decimal(0), "tokens_in": 0, "tokens_out": 0}
    daily = column_chart("Cost per day", [
        (day.strftime("%d %b"), float(d["cost_usd"]),
         f"{day:%Y-%m-%d}: {money(float(d['cost_usd']))}, "
         f"{tokens_label(d['tokens_in'] + d['tokens_out'])} tokens")
        for day in every_day for d in [by_day.get(day, empty)]
    ], "cost", value_label=money)
    return [funnel, durations, cost, daily]


# --- the view ------------------------------------------------------------------------
def _csv(name: str, header: list[str], lines: list[list[Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(lines)
    return response


@require_GET
@login_required
def analytics_page(request: HttpRequest) -> HttpResponse:
    """Staff only: anonymous users are sent to log in, everyone else gets a 403."""
    if not request.user.is_staff:
        raise PermissionDenied("Analytics are for staff.")
    form = AnalyticsForm(request.GET or None)
    wants_csv = request.GET.get("format") == "csv"
    if form.is_bound and not form.is_valid() and wants_csv:
        problems = [str(m) for ms in form.errors.values() for m in ms]
        return HttpResponseBadRequest("; ".join(problems), content_type="text/plain")
    period = form.period()
    summary = analytics.stream_summary(period)
    rows = analytics.stage_rows(period)
    days = analytics.per_day(period)
    summary.update(analytics.retry_totals(rows))
    # Totals are written by the one rule: "free (offline)" when every model is free.
    models = analytics.models_used(period)
    summary["cost_usd"] = models_cost(models, summary["cost_usd"])
    for day in days:
        day["cost"] = models_cost(models, day["cost_usd"])
    if wants_csv:
        table = request.GET.get("table", "stages")
        stem = f"analytics-{period.job_type or 'all'}-{period.start}-{period.end}"
        if table == "days":
            return _csv(f"{stem}-days", [c[0] for c in DAY_COLUMNS],
                        [[raw(get(d), kind) for _, get, kind in DAY_COLUMNS] for d in days])
        if table == "summary":
            return _csv(f"{stem}-summary", ["metric", "value"],
                        [[key, raw(summary[key], kind)] for key, _, kind in SUMMARY_ITEMS])
        if table != "stages":
            return HttpResponseBadRequest("table must be stages, days or summary.",
                                          content_type="text/plain")
        return _csv(f"{stem}-stages", [c[0] for c in STAGE_COLUMNS],
                    [[raw(get(r), kind) for _, get, kind in STAGE_COLUMNS] for r in rows])
    first = [c for c in STAGE_COLUMNS if c[0] in STAGE_FIRST_COLUMNS]
    query = request.GET.copy()
    query.pop("format", None)
    query.pop("table", None)
    context = {
        "form": form,
        "period": period,
        "summary": [(label, shown(summary[key], kind)) for key, label, kind in SUMMARY_ITEMS],
        "stage_header": [c[0] for c in STAGE_COLUMNS],
        "stage_table": [[shown(get(r), kind) for _, get, kind in STAGE_COLUMNS] for r in rows],
        "stage_first_header": [c[0] for c in first],
        "stage_first_table": [[shown(get(r), kind) for _, get, kind in first] for r in rows],
        "day_header": [c[0] for c in DAY_COLUMNS],
        "day_table": [[shown(get(d), kind) for _, get, kind in DAY_COLUMNS] for d in days],
        "rows": rows,
        "charts": charts_for(period, rows, days, models) if rows else [],
        "query": query.urlencode(),
        "forecasts": forecast_accuracy(period),
    }
    return render(request, "reports/analytics.html", context)
