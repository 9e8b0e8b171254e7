"""The exams' refusals, shared by the attempt lifecycle and the answer translation."""
from __future__ import annotations


class ExamError(ValueError):
    """A refusal the member is shown as it is (Chinese)."""


class AnswerError(ExamError):
    """The answers sent are malformed (never from the attempt page itself): nothing was saved.

    ``errors`` maps a question id to its problem when the problem is in one answer."""

    def __init__(self, message: str, errors: dict[int, str] | None = None):
        super().__init__(message)
        self.errors = errors or {}
