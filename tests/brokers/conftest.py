"""Broker tests use the live tests' store fixture."""

from tests.live.conftest import live_db  # noqa: F401
