"""The streaming core's tables: jobs, streams with their stages and attempts, reports,
API tokens, webhooks and notices. Everything above imports them from here."""

from __future__ import annotations

from reports.models.access import is_staff, may_see, visible_to
from reports.models.jobs import BaseJob, ReportJob
from reports.models.notify import (
    DeliveryAttempt,
    EmailNotice,
    NotificationSettings,
    OutboxStatus,
    Webhook,
    WebhookDelivery,
)
from reports.models.sources import StageSource
from reports.models.streams import (
    ACTIVE_STATUSES,
    RESUMABLE_STATUSES,
    AttemptStatus,
    Report,
    ReportQuerySet,
    Stage,
    StageAttempt,
    StageQuerySet,
    StageStatus,
    StreamingJob,
    StreamingJobQuerySet,
    StreamStatus,
    VersionReason,
)
from reports.models.tokens import (
    ApiToken,
    ApiTokenQuerySet,
    create_api_token,
    revoke_api_token,
)

__all__ = [
    "ACTIVE_STATUSES",
    "RESUMABLE_STATUSES",
    "ApiToken",
    "ApiTokenQuerySet",
    "AttemptStatus",
    "BaseJob",
    "DeliveryAttempt",
    "EmailNotice",
    "NotificationSettings",
    "OutboxStatus",
    "Report",
    "ReportJob",
    "ReportQuerySet",
    "Stage",
    "StageAttempt",
    "StageQuerySet",
    "StageSource",
    "StageStatus",
    "StreamStatus",
    "StreamingJob",
    "StreamingJobQuerySet",
    "VersionReason",
    "Webhook",
    "WebhookDelivery",
    "create_api_token",
    "is_staff",
    "may_see",
    "revoke_api_token",
    "visible_to",
]
