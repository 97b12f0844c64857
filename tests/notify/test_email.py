"""E-mail notices: one per completion (or failure) to an opted-in owner, with a link to
the document; never to anyone else, never twice, never to someone who opted out."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail

from reports.models import EmailNotice, OutboxStatus
from reports.notify.preferences import set_email_opt_in
from reports.notify.sending import send_due
from reports.providers.base import PermanentError
from reports.providers.fake import FakeProvider, Script
from reports.runtime.engine import run_stream
from reports.streams.services import cancel_job, retry_stage

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _site_url(settings: Any) -> None:
    settings.SITE_URL = "https://reports.example.com"


def test_an_opted_in_owner_gets_one_email_per_completion_with_a_link(
    user: User, other_user: User, make_stream: Any, fake_provider: FakeProvider
) -> None:
    set_email_opt_in(user_id=user.pk, enabled=True)
    set_email_opt_in(user_id=other_user.pk, enabled=True)  # opted in, but not the owner
    stream = make_stream()
    assert run_stream(stream.pk) == "completed"
    assert mail.outbox == []  # recorded with the ending, sent in the background
    send_due()
    send_due()

    [message] = mail.outbox
    assert message.to == ["alice@example.com"]
    assert message.cc == [] and message.bcc == []
    report_id = stream.reports.get().pk
    assert f"https://reports.example.com/documents/{report_id}/" in message.body
    assert message.subject == f"Ready: {stream.title or 'Customer retention plan'}"
    assert EmailNotice.objects.get().status == OutboxStatus.DELIVERED

    # A second completion of the same stream (a stage retried) is another notice.
    retry_stage(stream_id=stream.pk, key="summary", user=user)
    assert run_stream(stream.pk) == "completed"
    send_due()
    assert len(mail.outbox) == 2
    assert all(m.to == ["alice@example.com"] for m in mail.outbox)


def test_a_failure_is_emailed_with_a_link_to_the_stream(
    user: User, make_stream: Any, fake_provider: FakeProvider
) -> None:
    set_email_opt_in(user_id=user.pk, enabled=True)
    fake_provider.script("context", Script(error=PermanentError("Bad key.", kind="auth")))
    stream = make_stream()
    assert run_stream(stream.pk) == "failed"
    send_due()
    [message] = mail.outbox
    assert message.subject.startswith("Stopped: ")
    assert f"https://reports.example.com/streams/{stream.pk}/" in message.body


def test_no_email_without_opting_in_or_for_a_cancel(
    user: User, make_stream: Any, fake_provider: FakeProvider
) -> None:
    assert run_stream(make_stream().pk) == "completed"  # not opted in
    set_email_opt_in(user_id=user.pk, enabled=True)
    cancel_job(stream_id=make_stream().pk, user=user)  # a cancel is the owner's own doing
    send_due()
    assert mail.outbox == []
    assert not EmailNotice.objects.exists()


def test_opting_out_before_it_is_sent_sends_nothing(
    user: User, make_stream: Any, fake_provider: FakeProvider
) -> None:
    set_email_opt_in(user_id=user.pk, enabled=True)
    assert run_stream(make_stream().pk) == "completed"
    set_email_opt_in(user_id=user.pk, enabled=False)
    send_due()
    assert mail.outbox == []
    assert EmailNotice.objects.get().status == OutboxStatus.GAVE_UP


def test_a_mail_server_that_refuses_is_retried(
    user: User, make_stream: Any, fake_provider: FakeProvider, settings: Any
) -> None:
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 0
    # Nothing listens on port 9 of loopback (discard): the SMTP backend cannot connect.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    set_email_opt_in(user_id=user.pk, enabled=True)
    assert run_stream(make_stream().pk) == "completed"
    send_due()
    notice = EmailNotice.objects.get()
    assert (notice.status, notice.attempts) == (OutboxStatus.PENDING, 1)
    assert "Connection" in notice.last_error or "refused" in notice.last_error
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    send_due()
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]
    assert EmailNotice.objects.get().attempts == 2


def test_a_title_with_line_breaks_from_before_the_rule_is_still_sent(
    user: User, make_stream: Any, fake_provider: FakeProvider
) -> None:
    """Rows saved before titles had to be one line (issue 32: BadHeaderError, given up
    after 8 tries): the subject is made one line and the notice goes out."""
    from reports.models import ReportJob, StreamingJob

    set_email_opt_in(user_id=user.pk, enabled=True)
    stream = make_stream()
    title = "Plan\r\nBcc: mallory@example.com\u2028\x85B"
    StreamingJob.objects.filter(pk=stream.pk).update(
        title=title, input_data={**stream.input_data, "title": title}
    )
    ReportJob.objects.filter(pk=stream.job_id).update(title=title)
    assert run_stream(stream.pk) == "completed"
    send_due()
    [message] = mail.outbox
    assert message.subject == "Ready: Plan Bcc: mallory@example.com B"
    assert message.bcc == [] and message.to == ["alice@example.com"]
    assert EmailNotice.objects.get().status == OutboxStatus.DELIVERED
