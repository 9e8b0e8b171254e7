"""Question bank, timed exams, attempts, grading and statistics."""
