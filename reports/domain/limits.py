"""Input limits every job type shares: a title, and a long text field.

Constants, not settings: the models' ``max_length`` uses them, so a change needs a
migration. The input models publish them in their schemas (``reports/pipelines/inputs.py``).
"""

from __future__ import annotations

JOB_TITLE_MAX_LENGTH = 200
JOB_FIELD_MAX_LENGTH = 4000
