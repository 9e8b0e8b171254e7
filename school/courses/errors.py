"""The one error the courses package refuses things with (its message is shown to people)."""


class CourseError(ValueError):
    """A refused course operation, with a message for the person."""
