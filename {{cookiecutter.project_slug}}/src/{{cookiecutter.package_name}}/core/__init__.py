"""Thin shared layer: database, Redis, logging, errors, request ids and health checks."""
