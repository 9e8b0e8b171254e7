"""Refusals shown to people, in Chinese."""


class TrainingError(ValueError):
    """A request the rules refuse; the message says why."""
