"""The delivery phase: queued trigger notifications sent (or, in a dry run, counted), stop-aware."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from thoth.package_releases import notifications
from thoth.package_releases.config import Config
from thoth.package_releases.phases.context import RunContext
from thoth.package_releases.phases.ports import StatePort
from thoth.package_releases.values import OutboxEntry

_LOGGER = logging.getLogger("thoth.package_releases.job")


class _ReconnectingOutbox:
    """The outbox with each database action run on its own through the reconnecting wrapper.

    Only single actions are safe to run again after a lost connection: the HTTP sends between them are not.
    """

    def __init__(self, context: RunContext) -> None:
        self._context = context
        self._state: StatePort = context.store.state

    def pending_notifications(self) -> Sequence[OutboxEntry]:
        """Return the queued notifications, oldest first."""
        return self._context.db(self._state.pending_notifications)

    def mark_notification(self, entry_id: int, *, status: str, attempts: int, error: str | None) -> None:
        """Record the outcome of delivering an entry."""
        self._context.db(lambda: self._state.mark_notification(entry_id, status=status, attempts=attempts, error=error))

    def outbox_counts(self, shard_index: int = 0, shard_count: int = 1) -> dict[str, int]:
        """Return how many entries of a shard are pending, sent and dead."""
        return self._context.db(lambda: self._state.outbox_counts(shard_index, shard_count))


def deliver(context: RunContext, config: Config) -> None:
    """Send this shard's queued notifications, or in a dry run only count them; the counts go to the report.

    Also without any trigger configured: queued notifications of removed triggers are given up.
    """
    settings = context.settings
    outbox = _ReconnectingOutbox(context)
    if settings.dry_run:
        counts = outbox.outbox_counts(settings.shard_index, settings.shard_count)
        context.report.notifications.pending = counts["pending"]
        context.report.notifications.dead = counts["dead"]
        return
    if context.stop.requested():
        _LOGGER.warning("Not delivering notifications (%s); they stay queued for the next run", context.stop.reason)
        return
    policy = notifications.DeliveryPolicy(
        max_attempts=settings.notification_attempts, timeout=min(settings.timeout, 30.0)
    )
    context.report.notifications = notifications.deliver_pending(
        outbox,
        config,
        settings.environ,
        policy,
        should_stop=context.stop.requested,
        sleep=context.stop.pause,
        shard_index=settings.shard_index,
        shard_count=settings.shard_count,
    )
