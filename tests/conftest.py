"""Shared fixtures: real redis-server processes (tests/support/redis_servers.py)."""

pytest_plugins = ["tests.support.redis_servers"]
