"""`{{ cookiecutter.project_slug }}`: the command for every process the service runs (`{{ cookiecutter.project_slug }} --help`)."""

import sys

from chassis.cli import run

from {{ cookiecutter.package_name }}.service import SERVICE


def main(argv: list[str] | None = None) -> int:
    return run(SERVICE, argv)


if __name__ == "__main__":
    sys.exit(main())
