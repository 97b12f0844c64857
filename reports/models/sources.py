"""Where a stage's output came from (``Stage.source``, the snapshot's ``source``)."""

from __future__ import annotations

from django.db import models


class StageSource(models.TextChoices):
    MODEL = "model", "Written by the model"
    EDITED = "edited", "Edited by a person"
    COPIED = "copied", "Kept from an earlier version"
