"""The chassis's Alembic revisions: a line of history of their own, beside the app's.

The app's `alembic.ini` names `LOCATION` in `version_locations`, next to its own folder, so
`SERVICE migrate` (`alembic upgrade heads`) applies both lines. Every chassis revision is on the
branch `BRANCH`; a chassis update adds revisions on top of it and never touches the app's line.
"""

__all__ = ["BRANCH", "LOCATION"]

BRANCH = "chassis"
# Alembic's package-resource form, `package:folder`: resolved by import, so the same line works
# for the workspace member and for a chassis installed from a wheel, wherever site-packages is.
LOCATION = "chassis.migrations:versions"
