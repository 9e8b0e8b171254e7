"""The exams' refusal, shared by the attempt lifecycle and the answer translation."""


class ExamError(ValueError):
    """A refusal the member is shown as it is (Chinese)."""
