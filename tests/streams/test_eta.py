"""ETA: expected stage durations learned from history (type + key + model), the pace
fallback, the dependency chain, and the "taking longer than usual" flag."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from reports.live import fragments as live
from reports.models import Stage, StageStatus, StreamingJob, StreamStatus
from reports.streams import eta
from reports.streams.selectors import stream_snapshot

# The client-report pipeline, in order, with its weights.
WEIGHTS = {"brief": 1.0, "context": 1.5, "outline": 1.0, "sections": 4.0,
           "recommendations": 1.5, "summary": 1.0, "assembly": 0.2}
KEYS = list(WEIGHTS)


@pytest.fixture(autouse=True)
def _no_history_cache(settings: Any) -> None:
    settings.ETA_HISTORY_CACHE_SECONDS = 0
    settings.LLM_MODEL = "m1"  # the model the engine would pick for every model stage
    settings.LLM_STAGE_MODELS = ""
    eta.clear_history_cache()


def make_stream(owner: User, status: str = StreamStatus.RUNNING, **fields: Any) -> StreamingJob:
    stream = StreamingJob.objects.create(type="report", job_id=uuid.uuid4(), owner=owner,
                                         title="T", status=status, **fields)
    Stage.objects.bulk_create(
        Stage(stream=stream, key=key, title=key.title(), position=i, weight=WEIGHTS[key],
              depends_on=KEYS[i - 1:i])
        for i, key in enumerate(KEYS)
    )
    return stream


def past_run(owner: User, seconds: dict[str, float], model: str = "m1") -> StreamingJob:
    """A completed stream whose stages took ``seconds`` (others: 1 s) with ``model``."""
    stream = make_stream(owner, StreamStatus.COMPLETED)
    end = timezone.now() - timedelta(hours=1)
    for stage in stream.stages.all():
        took = seconds.get(stage.key, 1.0)
        stage.status = StageStatus.COMPLETED
        stage.model = "" if stage.key == "assembly" else model
        stage.started_at, stage.finished_at = end - timedelta(seconds=took), end
        stage.save()
    return stream


def set_stage(stream: StreamingJob, key: str, status: str, *, ago: float = 0.0,
              took: float | None = None, model: str = "") -> None:
    started = timezone.now() - timedelta(seconds=ago)
    finished = started + timedelta(seconds=took) if took is not None else None
    Stage.objects.filter(stream=stream, key=key).update(
        status=status, started_at=started, finished_at=finished, model=model)


def stages_of(stream: StreamingJob) -> list[Stage]:
    return list(stream.stages.in_order())


def test_no_history_at_all_says_estimating_not_a_guess(user: User) -> None:
    """Issue 31, item 2: a default pace said "~20 s" for a 10.5 s report."""
    stream = make_stream(user, StreamStatus.PENDING)
    estimate = eta.estimate(stream, stages_of(stream))
    assert estimate.eta_seconds is None and estimate.estimating
    assert stream_snapshot(stream)["eta_seconds"] is None
    html = live.render_component(stream)
    assert "estimating…" in html and "data-eta=" not in html
    # The first finished stage is evidence: an estimate from the stream's own pace.
    set_stage(stream, "brief", StageStatus.COMPLETED, ago=4, took=4, model="m1")
    estimate = eta.estimate(stream, stages_of(stream))
    assert not estimate.estimating
    assert estimate.eta_seconds == pytest.approx((sum(WEIGHTS.values()) - 1.0) * 4)


def test_no_history_scales_weights_by_the_streams_own_pace(user: User) -> None:
    stream = make_stream(user)
    set_stage(stream, "brief", StageStatus.COMPLETED, ago=10, took=10, model="m1")  # 10 s/weight
    seconds = eta.eta_seconds(stream, stages_of(stream))
    assert seconds == pytest.approx((sum(WEIGHTS.values()) - 1.0) * 10)


def test_history_median_per_type_key_and_model(user: User) -> None:
    for took in (8, 9, 10, 12, 30):  # median 10
        past_run(user, {"sections": took * 4, "brief": took})
    past_run(user, {"context": 999}, model="other-model")  # another model: ignored
    stream = make_stream(user)
    estimate = eta.estimate(stream, stages_of(stream))
    assert estimate.expected["brief"] == pytest.approx(10)
    assert estimate.expected["sections"] == pytest.approx(40)
    assert estimate.expected["context"] == pytest.approx(1)  # m1's history, not other-model's
    assert estimate.eta_seconds == pytest.approx(10 + 40 + 1 + 1 + 1 + 1 + 1)


def test_stage_without_history_for_its_model_falls_back_to_paced_weights(
    user: User, settings: Any
) -> None:
    past_run(user, {"brief": 10, "context": 15})
    settings.LLM_STAGE_MODELS = "report:sections=m2"  # no history for m2 yet
    stream = make_stream(user, StreamStatus.PENDING)
    estimate = eta.estimate(stream, stages_of(stream))
    # Pace from the stages that do have history: all but sections (weight 4).
    known = [k for k in KEYS if k != "sections"]
    history = {"brief": 10, "context": 15}
    pace = sum(history.get(k, 1.0) for k in known) / sum(WEIGHTS[k] for k in known)
    assert estimate.expected["sections"] == pytest.approx(4 * pace)


def test_running_stage_counts_what_is_left_of_its_median(user: User) -> None:
    for _ in range(5):
        past_run(user, {"brief": 10})
    stream = make_stream(user)
    set_stage(stream, "brief", StageStatus.RUNNING, ago=4, model="m1")
    seconds = eta.eta_seconds(stream, stages_of(stream))
    assert seconds == pytest.approx(6 + 6 * 1.0, abs=0.3)  # 10 - 4, then six 1 s stages


def test_running_stage_past_its_median_but_within_p95_is_not_slow(user: User) -> None:
    for took in (8, 9, 10, 12, 30):  # p50 10, p95 30
        past_run(user, {"brief": took})
    stream = make_stream(user)
    set_stage(stream, "brief", StageStatus.RUNNING, ago=15, model="m1")
    estimate = eta.estimate(stream, stages_of(stream))
    # Past its median brief still runs: a quarter of it is left, then six 1 s stages.
    assert estimate.eta_seconds == pytest.approx(2.5 + 6.0)
    assert estimate.eta_floor == pytest.approx(6.0)  # the countdown stops here
    assert estimate.slow == frozenset()
    assert estimate.slow_after["brief"] == pytest.approx(30)
    assert stream_snapshot(stream)["stages"][0]["slow"] is False


def test_running_stage_past_its_p95_is_flagged_in_snapshot_and_card(user: User) -> None:
    for took in (8, 9, 10, 12, 30):
        past_run(user, {"brief": took})
    stream = make_stream(user)
    set_stage(stream, "brief", StageStatus.RUNNING, ago=31, model="m1")
    snapshot = stream_snapshot(stream)
    assert snapshot["stages"][0]["slow"] is True
    assert all(stage["slow"] is False for stage in snapshot["stages"][1:])
    assert snapshot["eta_seconds"] == pytest.approx(2.5 + 6.0)
    html = live.render_component(stream)
    flag = re.search(r'<span class="stage-slow"[^>]*>', html)
    assert flag is not None and " hidden" not in flag.group(0)
    assert "taking longer than usual" in html


def test_card_carries_the_p95_so_the_flag_can_appear_between_events(user: User) -> None:
    for took in (8, 9, 10, 12, 30):
        past_run(user, {"brief": took})
    stream = make_stream(user)
    set_stage(stream, "brief", StageStatus.RUNNING, ago=2, model="m1")
    html = live.render_component(stream)
    flag = re.search(r'<span class="stage-slow"[^>]*>', html)
    assert flag is not None
    assert 'data-slow-after="30.0"' in flag.group(0) and " hidden" in flag.group(0)


def test_little_history_flags_a_stage_well_past_what_is_expected(user: User) -> None:
    for took in (8, 9):  # too few runs for a p95: 2.5 x the median (8) instead
        past_run(user, {"brief": took})
    stream = make_stream(user)
    set_stage(stream, "brief", StageStatus.RUNNING, ago=15, model="m1")
    assert eta.estimate(stream, stages_of(stream)).slow == frozenset()
    set_stage(stream, "brief", StageStatus.RUNNING, ago=90, model="m1")  # 10x its usual
    estimate = eta.estimate(stream, stages_of(stream))
    assert estimate.slow == frozenset({"brief"})
    assert estimate.slow_after["brief"] == pytest.approx(2.5 * 8)


def test_no_history_flags_at_two_and_a_half_times_the_paced_expectation(user: User) -> None:
    stream = make_stream(user)
    set_stage(stream, "brief", StageStatus.RUNNING, ago=60, model="m9")  # expected 2 s
    estimate = eta.estimate(stream, stages_of(stream))
    assert estimate.slow_after["brief"] == eta.SLOW_MIN_SECONDS
    assert "brief" in estimate.slow


def test_a_running_stage_past_its_expectation_never_counts_down_to_zero(user: User) -> None:
    stream = make_stream(user)
    set_stage(stream, "brief", StageStatus.COMPLETED, ago=70, took=2, model="m9")  # 2 s/weight
    set_stage(stream, "context", StageStatus.RUNNING, ago=60, model="m9")
    estimate = eta.estimate(stream, stages_of(stream))
    pending = sum(WEIGHTS.values()) - WEIGHTS["brief"] - WEIGHTS["context"]
    assert estimate.eta_floor == pytest.approx(pending * 2)
    assert estimate.eta_seconds is not None and estimate.eta_floor is not None
    assert estimate.eta_seconds > estimate.eta_floor  # still running: something is left


def test_elapsed_counts_work_not_pauses(user: User) -> None:
    stream = make_stream(user)
    set_stage(stream, "brief", StageStatus.COMPLETED, ago=700, took=10, model="m1")
    set_stage(stream, "context", StageStatus.COMPLETED, ago=20, took=5, model="m1")
    seconds, ticking = eta.elapsed(stages_of(stream))
    assert seconds == pytest.approx(15, abs=0.5) and not ticking  # not 700 s
    set_stage(stream, "outline", StageStatus.RUNNING, ago=3, model="m1")
    seconds, ticking = eta.elapsed(stages_of(stream))
    assert seconds == pytest.approx(18, abs=0.5) and ticking


def test_stages_that_can_run_together_count_once(user: User) -> None:
    stream = StreamingJob.objects.create(type="report", job_id=uuid.uuid4(), owner=user,
                                         status=StreamStatus.RUNNING)
    for i, (key, weight, deps) in enumerate(
        [("a", 1.0, []), ("b", 3.0, []), ("c", 1.0, ["a", "b"])]
    ):
        Stage.objects.create(stream=stream, key=key, title=key, position=i, weight=weight,
                             depends_on=deps)
    set_stage(stream, "a", StageStatus.COMPLETED, ago=2, took=2, model="m1")  # 2 s/weight
    seconds = eta.eta_seconds(stream, stages_of(stream), history={})
    assert seconds == pytest.approx((3.0 + 1.0) * 2)


def test_finished_stream_has_no_eta(user: User) -> None:
    stream = make_stream(user, StreamStatus.COMPLETED)
    assert eta.eta_seconds(stream, stages_of(stream)) is None
    assert stream_snapshot(stream)["eta_seconds"] is None


def test_history_is_one_query_and_cached(
    user: User, settings: Any, django_assert_num_queries: Any
) -> None:
    for took in (8, 9, 10):
        past_run(user, {"brief": took})
    stream = make_stream(user)
    stages = stages_of(stream)
    with django_assert_num_queries(1):
        eta.estimate(stream, stages)
    settings.ETA_HISTORY_CACHE_SECONDS = 60
    eta.estimate(stream, stages)
    with django_assert_num_queries(0):
        assert eta.estimate(stream, stages).expected["brief"] == pytest.approx(9)
    eta.clear_history_cache()


def test_api_snapshot_carries_the_slow_flag(user: User, client: Any) -> None:
    for took in (8, 9, 10, 12, 30):
        past_run(user, {"brief": took})
    stream = make_stream(user)
    set_stage(stream, "brief", StageStatus.RUNNING, ago=31, model="m1")
    client.force_login(user)
    body = client.get(f"/api/streams/{stream.pk}/").json()
    assert body["stages"][0]["slow"] is True and body["stages"][1]["slow"] is False
    assert body["eta_seconds"] == pytest.approx(2.5 + 6.0)


def other_type_run(owner: User, model: str, seconds_per_weight: float) -> None:
    """A completed stream of another job type whose stages ran at ``seconds_per_weight``."""
    stream = StreamingJob.objects.create(type="starmap", job_id=uuid.uuid4(), owner=owner,
                                         title="S", status=StreamStatus.COMPLETED)
    end = timezone.now() - timedelta(hours=1)
    for position, weight in enumerate((1.0, 2.0)):
        Stage.objects.create(
            stream=stream, key=f"s{position}", title="S", position=position, weight=weight,
            status=StageStatus.COMPLETED, model=model, finished_at=end,
            started_at=end - timedelta(seconds=weight * seconds_per_weight),
        )


def test_a_model_without_history_here_runs_at_its_own_pace_from_elsewhere(
    user: User, settings: Any
) -> None:
    """The first report on a local model is estimated at that model's pace (learned from
    its starmaps), not at the offline model's."""
    other_type_run(user, "m1", seconds_per_weight=30.0)
    other_type_run(user, "offline", seconds_per_weight=0.5)  # another model: not used
    stream = make_stream(user, StreamStatus.PENDING)
    estimate = eta.estimate(stream, stages_of(stream))
    assert estimate.expected["sections"] == pytest.approx(4.0 * 30.0)
    settings.LLM_MODEL = "never-run"
    estimate = eta.estimate(stream, stages_of(stream))
    assert estimate.expected["sections"] == pytest.approx(4.0 * eta.DEFAULT_SECONDS_PER_WEIGHT)
