"""Helpers shared by the tests (import them as `tests.helpers...`; pyproject.toml puts the
checkout on pytest's path). Fixtures stay in the conftest files."""

from tests.helpers.wait import until, wait_until

__all__ = ["until", "wait_until"]
