"""The start-up heap, kept out of the garbage collector's full passes while a process serves."""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_startup_heap() -> Iterator[None]:
    """Freeze what start-up allocated (modules, the app, its schemas and tasks) until the block ends.

    A full collection walks every object the collector tracks. With the start-up objects among
    them, each one stalled a web process for 65-90 ms and collected nothing, several times a minute
    under load: every request in flight waited, and that was `POST /v1/reports`'s p99. Frozen, they
    are never walked; what requests and jobs allocate is collected as before. Unfrozen at the end,
    so a process that starts several apps (the tests) collects the old ones. No collection first:
    freezing costs nothing then, and start-up leaves little garbage to keep.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
