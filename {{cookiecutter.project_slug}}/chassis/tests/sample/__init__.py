"""A small service on the chassis, for the chassis's own tests and benchmarks only.

It is what an app looks like to the chassis: a `Service` with its settings and one feature,
`notes`, whose route accepts a durable job that writes one row, and a cron task. The tests start
it as a team starts its service: `python -m sample.cli web`, `... worker --queue default`.
"""
