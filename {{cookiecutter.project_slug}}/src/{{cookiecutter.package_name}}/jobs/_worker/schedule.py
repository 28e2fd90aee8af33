"""Placeholder until the cron engine lands (replaced by the cron branch)."""

import asyncio
from collections.abc import Sequence
from typing import Any


async def run(crons: Sequence[Any], settings: Any, queue: Any, sessions: Any) -> None:
    await asyncio.Event().wait()
