"""Question bank, timed exams, attempts, grading and statistics.

Who commits: services flush, callers (views, ``school exams …`` commands, the job runner)
commit. The exception is the attempt lifecycle — ``attempts.start``, ``save_answers`` and
``finish`` (and ``submit``, ``finish_if_overdue``, ``finish_overdue``, which call them) —
which commits itself: its conditional UPDATE / row lock and this process's SQLite write lock
must cover the commit, and ``signals.attempt_passed`` is sent only after it. The reasons are
in ``attempts``' docstring.
"""
