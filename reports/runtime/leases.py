"""Who runs a stream: a lease claimed with a conditional UPDATE and kept alive by a
per-process heartbeat thread, which also notices cancel requests and lost leases."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import close_old_connections, connections
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from reports.domain.config import config
from reports.models import ACTIVE_STATUSES, StreamingJob, StreamStatus

logger = logging.getLogger(__name__)

# A new runner continues ``seq`` this far past the last checkpoint, so its events
# always follow whatever a dead runner published after its last checkpoint.
SEQ_GAP_ON_CLAIM = 1000
# The cancel reason of runs stopped because their process is exiting: their streams
# stay active and are resumed by the next runner, not marked cancelled.
SHUTDOWN = "shutdown"

_identity = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def runner_identity() -> str:
    """This process: host, pid and a random tag."""
    return _identity


def new_run_owner() -> str:
    """A lease owner for one run. Unique per run, so a run whose lease expired and was
    re-claimed (even by this same process) sees that it lost the stream."""
    return f"{_identity}/{uuid.uuid4().hex[:8]}"


def claim(stream_id: Any, owner: str) -> bool:
    """Take the stream if nobody holds a live lease on it. A new run starts with the
    last ending's error cleared and ``seq`` moved past anything a dead runner sent."""
    now = timezone.now()
    claimed = (
        StreamingJob.objects.filter(
            pk=stream_id, status__in=ACTIVE_STATUSES, waiting_for_slot=False
        )
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .update(
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=config().lease_ttl_seconds),
            heartbeat_at=now,
            status=StreamStatus.RUNNING,
            started_at=Coalesce(F("started_at"), Value(now)),
            runs=F("runs") + 1,
            seq=F("seq") + SEQ_GAP_ON_CLAIM,
            error="",
            error_kind="",
            finished_at=None,
        )
    )
    return bool(claimed)


def release(stream_id: Any, owner: str) -> None:
    StreamingJob.objects.filter(pk=stream_id, lease_owner=owner).update(
        lease_owner="", lease_expires_at=None
    )


def _key(stream_id: Any) -> str:
    """One spelling per stream id (a UUID given as text or as a UUID)."""
    try:
        return str(uuid.UUID(str(stream_id)))
    except ValueError:
        return str(stream_id)


@dataclass(eq=False)
class HeldLease:
    """A stream this process runs: its lease owner, cancel flag and the model streams
    to close."""

    stream_id: str
    owner: str = ""
    cancelled: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)
    cancel_reason: str = ""
    _closers: set[Any] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def track(self, completion: Any) -> None:
        with self._lock:
            self._closers.add(completion)
        if self.cancelled.is_set():
            completion.close()

    def untrack(self, completion: Any) -> None:
        with self._lock:
            self._closers.discard(completion)

    def cancel(self, reason: str = "user") -> None:
        """Stop now: set the flag and close every open model stream of this run."""
        if not self.cancel_reason:
            self.cancel_reason = reason
        self.cancelled.set()
        with self._lock:
            closers = list(self._closers)
        for completion in closers:
            try:
                completion.close()
            except Exception:  # closing a broken stream must not stop the others
                logger.exception("Closing a model stream failed")


class LeaseKeeper:
    """One thread per process renews the leases it holds and watches for cancels."""

    def __init__(self) -> None:
        # Keyed by lease owner (one per run), not by stream: after a lost lease the
        # same stream may briefly have two runs here, and each must be told apart.
        self._held: dict[str, HeldLease] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    def hold(self, stream_id: Any, owner: str) -> HeldLease:
        """Start heartbeating the lease ``owner`` holds on the stream."""
        held = HeldLease(_key(stream_id), owner)
        with self._lock:
            self._held[owner] = held
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
                self._thread.start()
        return held

    def drop(self, held: HeldLease) -> None:
        with self._lock:
            if self._held.get(held.owner) is held:
                del self._held[held.owner]

    def get(self, stream_id: Any) -> HeldLease | None:
        """The run of this stream in this process that still owns it, if any."""
        key = _key(stream_id)
        with self._lock:
            runs = [h for h in self._held.values() if h.stream_id == key and not h.lost.is_set()]
        return runs[-1] if runs else None

    def cancel(self, stream_id: Any, reason: str = "user") -> bool:
        """Cancel every run of the stream in this process; True if there was one."""
        key = _key(stream_id)
        with self._lock:
            runs = [h for h in self._held.values() if h.stream_id == key]
        for held in runs:
            held.cancel(reason)
        return bool(runs)

    def interrupt_all(self) -> int:
        """Process shutdown: stop every run here now (closing its model streams); their
        streams stay active and resume elsewhere. Returns how many there were."""
        with self._lock:
            runs = list(self._held.values())
        for held in runs:
            held.cancel(SHUTDOWN)
        return len(runs)

    def _run(self) -> None:
        while True:
            self._wake.wait(config().lease_heartbeat_seconds)
            self._wake.clear()
            with self._lock:
                held = list(self._held.values())
            if not held:
                continue
            try:
                self.renew(held)
            except Exception:
                logger.exception("Lease heartbeat failed")
                # The database may still be away: this thread must outlive it.
                with contextlib.suppress(Exception):
                    close_old_connections()
            finally:
                with contextlib.suppress(Exception):
                    connections.close_all()

    def renew(self, held: list[HeldLease]) -> None:
        """Extend every lease still ours; flag lost leases and requested cancels."""
        now = timezone.now()
        expires = now + timedelta(seconds=config().lease_ttl_seconds)
        by_stream: dict[str, list[HeldLease]] = {}
        for lease in held:
            by_stream.setdefault(lease.stream_id, []).append(lease)
        # One UPDATE for all: a lease is renewed only where its owner still holds it.
        StreamingJob.objects.filter(
            pk__in=list(by_stream), lease_owner__in=[lease.owner for lease in held]
        ).update(lease_expires_at=expires, heartbeat_at=now)
        rows = StreamingJob.objects.filter(pk__in=list(by_stream)).values_list(
            "pk", "lease_owner", "cancel_requested", "cancel_reason"
        )
        for pk, lease_owner, cancel_requested, reason in rows:
            for lease in by_stream.get(str(pk), []):
                if lease_owner != lease.owner:
                    lease.lost.set()
                    lease.cancel("lease_lost")
                elif cancel_requested:
                    lease.cancel(reason or "user")


keeper = LeaseKeeper()
