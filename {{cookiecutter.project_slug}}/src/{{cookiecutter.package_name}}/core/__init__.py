"""What the web tier and the worker share: database, Redis, logging, metric names, the exception tree,
the definition of an outage and cron schedules. It imports neither `jobs` nor `web` (`make lint`).
"""
