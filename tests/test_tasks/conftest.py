"""The leaderboard tests' synthetic-run fixtures, for the task-version tests that validate runs."""

from tests.test_leaderboard.conftest import make, tiny  # noqa: F401 (fixtures)
