"""Thin shared layer: database, Redis, logging, errors, request ids, health checks, rate limits
and idempotency keys.
"""
