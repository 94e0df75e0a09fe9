"""User-facing errors: one clear line, a non-zero exit, never a traceback."""

from __future__ import annotations


class RecbenchError(Exception):
    """A mistake in the user's input or environment, reported as one line by the CLI."""

    exit_code = 2


class DataError(RecbenchError):
    """A dataset file is missing, unreadable or malformed; the message names file and field."""


class CheckpointError(RecbenchError):
    """A cached or given checkpoint is truncated, corrupted or does not fit."""


class UnknownNameError(RecbenchError):
    """A name that no registered plug-in answers to."""


class ConfigError(RecbenchError):
    """An invalid option value or task definition."""


class DiskFullError(RecbenchError):
    """The disk (or the user's quota) filled up while writing; the message names what was being
    written. Everything saved before stays whole (every write is to a temp file renamed into place)."""
