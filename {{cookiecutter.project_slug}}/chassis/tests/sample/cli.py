"""`python -m sample.cli COMMAND`: the chassis's command line for the sample service."""

import sys

from chassis.cli import run

from sample.service import SERVICE


def main(argv: list[str] | None = None) -> int:
    return run(SERVICE, argv)


if __name__ == "__main__":
    sys.exit(main())
