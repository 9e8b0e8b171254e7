# removed at merge: school/cli.py imports school.library.cli once the integrator updates it.
from school.library.cli import library_group, search_group  # noqa: F401
