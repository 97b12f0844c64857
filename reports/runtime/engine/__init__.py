"""The engine: runs one stream's pipeline under its lease, stage by stage.

Every stage is saved atomically when it finishes; token deltas are coalesced and
published live, and the partial text is checkpointed about once a second. Transient
model errors are retried inside the stage; permanent ones fail the stage (and the
stream, which stays resumable). Cancel closes the model's stream at once.

``run`` runs a stream, ``attempt`` calls the model for one stage, ``ledger`` keeps the
accounts and the budget, ``stages`` and ``endings`` save and announce how stages and
streams end; ``state`` is what they share.
"""

from __future__ import annotations

from reports.runtime.engine.attempt import AttemptFailed, AttemptResult, Cancelled
from reports.runtime.engine.db import release_db_connection
from reports.runtime.engine.ledger import NOT_BILLED, AttemptOutcome
from reports.runtime.engine.run import MAX_PARALLEL_STAGES, StreamRun, run_stream

__all__ = [
    "MAX_PARALLEL_STAGES",
    "NOT_BILLED",
    "AttemptFailed",
    "AttemptOutcome",
    "AttemptResult",
    "Cancelled",
    "StreamRun",
    "release_db_connection",
    "run_stream",
]
