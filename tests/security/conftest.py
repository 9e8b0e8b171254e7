"""The course fixtures (clips, one real transcode, the ``courses`` factory) for the security tests."""
from tests.courses import conftest as course_fixtures

clips, courses, transcoded = course_fixtures.clips, course_fixtures.courses, course_fixtures.transcoded
