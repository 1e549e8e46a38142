"""The per-search lease SQL: one live driver per search, timed by the database clock.

Each function runs inside the caller's transaction on a search row it already looked up, with
``now`` read from the database clock; :class:`hpsearch.storage.Storage` wraps them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, update
from sqlalchemy.orm import Session

from hpsearch.storage._convert import utc
from hpsearch.storage._errors import LeaseHeldError, LeaseLostError
from hpsearch.storage._models import SearchRow
from hpsearch.storage._records import LeaseHolder


def acquire(
    s: Session,
    row: SearchRow,
    now: datetime,
    *,
    me: LeaseHolder,
    dead: LeaseHolder,
    ttl_s: float,
) -> None:
    """Take the lease for ``me`` when it is free, expired, already ``me``'s or ``dead``'s, in one
    conditional UPDATE (two drivers racing: exactly one row count is 1).

    Raises:
        LeaseHeldError: another holder's lease has not expired.
    """
    table = SearchRow.__table__
    result = s.execute(
        update(table)
        .where(
            table.c.id == row.id,
            or_(
                table.c.lease_host.is_(None),
                table.c.lease_expires_at < now,
                and_(table.c.lease_host == me.host, table.c.lease_pid == me.pid),
                and_(table.c.lease_host == dead.host, table.c.lease_pid == dead.pid),
            ),
        )
        .values(
            lease_host=me.host,
            lease_pid=me.pid,
            lease_heartbeat_at=now,
            lease_expires_at=now + timedelta(seconds=ttl_s),
            lease_ttl_s=ttl_s,
        )
    )
    s.expire(row)
    if result.rowcount != 1:
        raise LeaseHeldError(lease_message(row, now))
    if not holds(row, me):  # pragma: no cover
        raise LeaseHeldError(lease_message(row, now))


def heartbeat(row: SearchRow, now: datetime, *, me: LeaseHolder, ttl_s: float | None) -> datetime:
    """Extend ``me``'s lease by ``ttl_s`` (default: the ttl it was taken with); the new expiry.

    Raises:
        LeaseLostError: ``me`` does not hold the lease any more.
    """
    if not holds(row, me) or row.lease_ttl_s is None:
        raise LeaseLostError(
            f"search {row.name!r}: {me} no longer holds the lease"
            + (f" ({lease_message(row, now)})" if row.lease_host else "")
        )
    if ttl_s is not None:
        row.lease_ttl_s = ttl_s
    expires = now + timedelta(seconds=row.lease_ttl_s)
    row.lease_heartbeat_at, row.lease_expires_at = now, expires
    return expires


def release(row: SearchRow, *, me: LeaseHolder) -> bool:
    """Clear the lease if ``me`` holds it; False (nothing changed) otherwise."""
    if not holds(row, me):
        return False
    row.lease_host = row.lease_pid = row.lease_heartbeat_at = None
    row.lease_expires_at = row.lease_ttl_s = None
    return True


def holds(row: SearchRow, me: LeaseHolder) -> bool:
    """True when the row's lease is ``me``'s (expired or not)."""
    return row.lease_host == me.host and row.lease_pid == me.pid


def lease_message(row: SearchRow, now: datetime) -> str:
    """Who holds the lease and for how long, for LeaseHeldError/LeaseLostError."""
    expires = utc(row.lease_expires_at)
    left = (expires - now).total_seconds() if expires else 0.0
    beat = utc(row.lease_heartbeat_at)
    when = f"last heartbeat {beat:%Y-%m-%d %H:%M:%S} UTC, " if beat else ""
    return (
        f"search {row.name!r} is driven by host {row.lease_host} pid {row.lease_pid} "
        f"({when}lease expires in {max(left, 0.0):.0f}s); stop that driver or wait for its lease "
        "to expire"
    )
