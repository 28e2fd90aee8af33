"""Cron digests: a summary of the last period, sent once per period through a pluggable notifier."""
