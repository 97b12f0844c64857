"""Percentiles of stage durations, computed in the database (the estimates and the
analytics page both read them)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from reports.models import Stage, StageStatus


def duration_percentiles(
    stages: QuerySet[Stage], group_by: tuple[str, ...], percents: tuple[int, ...]
) -> dict[tuple[Any, ...], tuple[dict[int, float], int]]:
    """Per group: ({percent: seconds}, samples) over completed stages (nearest rank, one query)."""
    partition = [F(name) for name in group_by]
    ranked = (
        stages.filter(
            status=StageStatus.COMPLETED, started_at__isnull=False, finished_at__isnull=False
        )
        .order_by()
        .annotate(
            duration=ExpressionWrapper(
                F("finished_at") - F("started_at"), output_field=DurationField()
            )
        )
        .annotate(
            rank=Window(RowNumber(), partition_by=partition,
                        order_by=[F("duration").asc(), F("pk").asc()]),
            samples=Window(Count("pk"), partition_by=partition),
        )
    )
    wanted = Q()
    for percent in percents:
        # ceil(p * n / 100) in integer arithmetic (the same on SQLite and PostgreSQL).
        wanted |= Q(rank=(F("samples") * percent + 99) / 100)
    found: dict[tuple[Any, ...], tuple[dict[int, float], int]] = {}
    for *group, samples, rank, duration in ranked.filter(wanted).values_list(
        *group_by, "samples", "rank", "duration"
    ):
        values, _ = found.setdefault(tuple(group), ({}, samples))
        for percent in percents:
            if rank == (samples * percent + 99) // 100:
                values[percent] = duration.total_seconds()
    return found
