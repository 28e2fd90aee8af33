"""The chassis: the platform a service stands on (web tier, durable jobs, shared core).

Public modules: `chassis.service` (Service, Feature), `chassis.settings`, `chassis.jobs`,
`chassis.web`, `chassis.core`, `chassis.cli` and `chassis.migrations` (its Alembic revisions).
Every other module is the chassis's own.
"""
