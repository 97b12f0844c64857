"""The list pages' actions: search and status filter, delete (after a confirmation) and
duplicate, for both job types: owner only, POST with CSRF, 404 for everyone else."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from reports.client_report.pipeline import PIPELINE as REPORT_PIPELINE
from reports.models import Report, ReportJob, Stage, StreamingJob, StreamStatus
from reports.streams.services import job_create
from starmap.models import StarmapJob
from starmap.pipeline import PIPELINE as STARMAP_PIPELINE
from tests.conftest import REPORT_INPUT
from tests.starmap.conftest import STARMAP_INPUT

pytestmark = pytest.mark.django_db


def signed_in(user: User, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def report_job(user: User, title: str = "Customer retention plan") -> ReportJob:
    job = job_create(pipeline=REPORT_PIPELINE, user=user, input_data={**REPORT_INPUT,
                                                                       "title": title})
    assert isinstance(job, ReportJob)
    return job


def finish(stream: StreamingJob, status: str = StreamStatus.COMPLETED) -> StreamingJob:
    StreamingJob.objects.filter(pk=stream.pk).update(status=status)
    stream.refresh_from_db()
    return stream


# --- delete ---

def test_delete_asks_first_and_changes_nothing_on_get(user: User) -> None:
    job = report_job(user)
    response = signed_in(user).get(reverse("client_report:job_delete", args=[job.pk]))
    assert response.status_code == 200
    assert "Delete “Customer retention plan”?" in response.content.decode()
    assert ReportJob.objects.filter(pk=job.pk).exists()


def test_delete_removes_the_job_its_runs_and_documents(
    user: User, make_stream: Any
) -> None:
    stream = finish(make_stream())
    Report.objects.create(owner=user, job_type="report", job_id=stream.job_id, stream=stream,
                          title="Customer retention plan", markdown="# Done")
    client = signed_in(user)
    response = client.post(reverse("client_report:job_delete", args=[stream.job_id]))
    assert response.status_code == 302 and response["Location"] == "/"
    assert not ReportJob.objects.filter(pk=stream.job_id).exists()
    assert not StreamingJob.objects.filter(pk=stream.pk).exists()
    assert not Stage.objects.filter(stream_id=stream.pk).exists()
    assert not Report.objects.filter(job_id=stream.job_id).exists()
    page = client.get("/").content.decode()
    assert "Deleted “Customer retention plan”." in page


def test_delete_is_refused_while_the_job_generates(user: User, make_stream: Any) -> None:
    stream = make_stream()  # pending: a runner may pick it up any moment
    url = reverse("client_report:job_delete", args=[stream.job_id])
    page = signed_in(user).get(url).content.decode()
    assert "cancel it first" in page and "Delete report</button>" not in page
    response = signed_in(user).post(url)
    assert response.status_code == 409
    assert "is generating: cancel it first" in response.content.decode()
    assert ReportJob.objects.filter(pk=stream.job_id).exists()
    assert StreamingJob.objects.filter(pk=stream.pk).exists()


@pytest.mark.parametrize("who", ["other", "staff"])
def test_delete_is_a_404_for_anyone_but_the_owner(
    user: User, other_user: User, staff_user: User, who: str
) -> None:
    job = report_job(user)
    client = signed_in(other_user if who == "other" else staff_user)
    url = reverse("client_report:job_delete", args=[job.pk])
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    assert ReportJob.objects.filter(pk=job.pk).exists()


def test_delete_and_duplicate_need_the_csrf_token(user: User) -> None:
    job = report_job(user)
    client = signed_in(user, csrf=True)
    assert client.post(reverse("client_report:job_delete", args=[job.pk])).status_code == 403
    assert client.post(reverse("client_report:job_duplicate", args=[job.pk])).status_code == 403
    assert ReportJob.objects.count() == 1


def test_signed_out_visitors_are_sent_to_log_in(user: User) -> None:
    job = report_job(user)
    response = Client().post(reverse("client_report:job_delete", args=[job.pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_bad_id_is_a_404(user: User) -> None:
    client = signed_in(user)
    assert client.get(reverse("client_report:job_delete", args=["not-a-uuid"])).status_code == 404
    assert client.post(reverse("starmap:job_duplicate", args=["not-a-uuid"])).status_code == 404


# --- duplicate ---

def test_duplicate_makes_a_copy_with_the_same_brief_not_generated(user: User) -> None:
    job = report_job(user)
    response = signed_in(user).post(reverse("client_report:job_duplicate", args=[job.pk]))
    copy = ReportJob.objects.exclude(pk=job.pk).get()
    assert response.status_code == 302 and response["Location"] == copy.get_absolute_url()
    assert copy.title == "Customer retention plan (copy)"
    assert {**copy.input_data(), "title": job.title} == job.input_data()
    assert copy.owner == user
    assert not copy.streams().exists()  # nothing is spent until the user asks


def test_duplicate_keeps_a_long_title_within_its_limit(user: User) -> None:
    limit = ReportJob._meta.get_field("title").max_length
    assert limit is not None
    job = report_job(user, "x" * limit)
    signed_in(user).post(reverse("client_report:job_duplicate", args=[job.pk]))
    copy = ReportJob.objects.exclude(pk=job.pk).get()
    assert len(copy.title) == limit and copy.title.endswith(" (copy)")


def test_duplicate_is_post_only_and_a_404_for_others(user: User, other_user: User) -> None:
    job = report_job(user)
    url = reverse("client_report:job_duplicate", args=[job.pk])
    assert signed_in(user).get(url).status_code == 405
    assert signed_in(other_user).post(url).status_code == 404
    assert ReportJob.objects.count() == 1


def test_a_starmap_can_be_duplicated_and_deleted(user: User, other_user: User) -> None:
    job = job_create(pipeline=STARMAP_PIPELINE, user=user, input_data=STARMAP_INPUT)
    client = signed_in(user)
    assert signed_in(other_user).post(
        reverse("starmap:job_delete", args=[job.pk])).status_code == 404
    client.post(reverse("starmap:job_duplicate", args=[job.pk]))
    copy = StarmapJob.objects.exclude(pk=job.pk).get()
    assert {**copy.input_data(), "title": job.title} == job.input_data()
    response = client.post(reverse("starmap:job_delete", args=[job.pk]))
    assert response.status_code == 302 and response["Location"] == "/starmap/"
    assert list(StarmapJob.objects.all()) == [copy]


# --- search and status filter ---

def card_titles(html: str) -> list[str]:
    return re.findall(r'class="job-card-title"><a href="[^"]+">([^<]+)</a>', html)


def test_the_list_searches_titles(user: User, other_user: User) -> None:
    report_job(user, "Retention plan")
    report_job(user, "Pricing review")
    report_job(other_user, "Retention for someone else")
    client = signed_in(user)
    assert card_titles(client.get("/", {"q": "retention"}).content.decode()) == ["Retention plan"]
    assert sorted(card_titles(client.get("/").content.decode())) == [
        "Pricing review", "Retention plan"]
    page = client.get("/", {"q": "nothing like it"}).content.decode()
    assert card_titles(page) == [] and "No reports match" in page


def test_the_list_filters_by_the_latest_runs_status(user: User, make_stream: Any) -> None:
    done = finish(make_stream(title="Done report"))
    failed_then_done = finish(make_stream(title="Fixed report"), StreamStatus.FAILED)
    job = ReportJob.objects.get(pk=failed_then_done.job_id)
    finish(StreamingJob.objects.create(type="report", job_id=job.pk, owner=user,
                                       title=job.title, input_data={}))
    make_stream(title="Running report")
    report_job(user, "Fresh report")
    assert done.status == StreamStatus.COMPLETED
    client = signed_in(user)

    def titles(status: str) -> list[str]:
        return sorted(card_titles(client.get("/", {"status": status}).content.decode()))

    assert titles("completed") == ["Done report", "Fixed report"]
    assert titles("failed") == []  # only the newest run counts
    assert titles("running") == ["Running report"]
    assert titles("none") == ["Fresh report"]
    assert len(titles("made-up")) == 4  # unknown: ignored


def test_the_starmap_list_searches_and_filters(user: User) -> None:
    job_create(pipeline=STARMAP_PIPELINE, user=user, input_data={**STARMAP_INPUT,
                                                                   "title": "Front desk"})
    job_create(pipeline=STARMAP_PIPELINE, user=user, input_data={**STARMAP_INPUT,
                                                                   "title": "Warehouse"})
    client = signed_in(user)
    page = client.get("/starmap/", {"q": "front", "status": "none"}).content.decode()
    assert card_titles(page) == ["Front desk"]
    assert 'value="front"' in page  # the search stays in the box
    page = client.get("/starmap/", {"q": "zzz"}).content.decode()
    assert "No starmaps match" in page and "No starmaps yet" not in page
