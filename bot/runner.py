"""The clock of the service: one APScheduler job that fires due timers, processes events, sends the outbox."""

from __future__ import annotations

import asyncio
import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.orchestrator import Orchestrator
from bot.outbox import Dispatcher

log = logging.getLogger(__name__)
TICK_SECONDS = 1.0
BATCH = 50  # inbound events processed between two rounds of sending


class Runner:
    """Runs the work loop on a timer, and at once when a webhook kicks it."""

    def __init__(self, orchestrator: Orchestrator, dispatcher: Dispatcher) -> None:
        self.orchestrator = orchestrator
        self.dispatcher = dispatcher
        self.scheduler: AsyncIOScheduler | None = None
        self._lock = asyncio.Lock()
        self._kicked: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the scheduler is started."""
        return bool(self.scheduler and self.scheduler.running)

    def start(self) -> None:
        """Start inside the running event loop (FastAPI's lifespan)."""
        self._kicked = asyncio.Event()
        recovered = self.dispatcher.recover()
        if recovered:
            log.warning(
                "%s messages were being sent when the last process stopped; sending them again", recovered
            )
        self.scheduler = AsyncIOScheduler(job_defaults={"coalesce": True, "max_instances": 1})
        self.scheduler.add_job(self.tick, "interval", seconds=TICK_SECONDS, id="tick", replace_existing=True)
        self.scheduler.start()
        self._task = asyncio.create_task(self._kick_loop())

    async def stop(self) -> None:
        """Stop the timer and the kick loop."""
        if self.scheduler and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self._task:
            self._task.cancel()

    def kick(self) -> None:
        """Process now rather than at the next tick (called after a webhook stored an event)."""
        if self._kicked is not None:
            self._kicked.set()

    async def _kick_loop(self) -> None:
        assert self._kicked is not None
        while True:
            await self._kicked.wait()
            self._kicked.clear()
            await self.tick()

    async def tick(self) -> None:
        """Process pending events, then send what is due; never raises."""
        async with self._lock:
            try:
                # Due timers (reminders...) go through the same path as messages, once each.
                await asyncio.to_thread(self.orchestrator.fire_due_timers)
                # Events first, between every round too: an opt-out a send just revealed is
                # recorded before the next round, so that resident's later rows are suppressed.
                # In batches, so that a burst of webhooks does not hold back every reply.
                while True:
                    processed = await asyncio.to_thread(self.orchestrator.process_pending, BATCH)
                    if not await self.dispatcher.dispatch_due() and not processed:
                        break
            except Exception:
                log.exception("work loop failed; it runs again at the next tick")
