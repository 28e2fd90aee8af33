"""The start-up heap is frozen while a process serves, and given back when it stops."""

import gc

from harness.app import serve
from sample.main import create_app
from sample.settings import Settings


async def test_web_freezes_its_startup_heap_while_it_serves(settings: Settings) -> None:
    async with serve(create_app(settings)) as client:
        await client.get("/healthz")
        while_serving = gc.get_freeze_count()
    assert (while_serving > 0, gc.get_freeze_count()) == (True, 0)
