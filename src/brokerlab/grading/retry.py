"""The vocabulary of a retry policy's answer (exercise ``ex09_retry_policy``).

A policy ``decide(attempt, error)`` returns :class:`Retry` (try again after ``delay`` seconds)
or :class:`DeadLetter` (give up: move the message to the dead-letter queue, with ``reason``).
:class:`PermanentError` marks an error that no retry can cure (a poison message).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DeadLetter", "PermanentError", "Retry"]


@dataclass(frozen=True)
class Retry:
    """Try the message again after ``delay`` seconds."""

    delay: float


@dataclass(frozen=True)
class DeadLetter:
    """Stop trying: send the message to the dead-letter queue, saying why (``reason``)."""

    reason: str


class PermanentError(Exception):
    """An error that retrying cannot cure (a malformed message, a rule it breaks)."""
