"""Benchmarks of the chassis, on its sample service: `make bench`, or from chassis/
`PYTHONPATH=tests uv run python -m bench --quick`. See README.md.
"""

import sys
import time

_STARTED = time.monotonic()


def progress(message: str) -> None:
    """A progress line on stderr, so long steps show they are moving."""
    print(f"[{time.monotonic() - _STARTED:5.0f} s] {message}", file=sys.stderr, flush=True)
