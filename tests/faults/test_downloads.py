"""Downloads that leave nothing behind: the station pack is zipped as it is sent, so parallel
downloads write nothing to the temporary folder (they used to leave one whole zip each)."""
from __future__ import annotations

import io
import tempfile
import threading
import zipfile

from school.accounts.models import Role
from school.courses import media
from tests.conftest import PASSWORD, CsrfClient


def test_parallel_pack_downloads_leave_no_files(app, make, courses, tmp_path, monkeypatch):
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    course = courses.course(slug="station", title="离线课")
    lessons = [courses.video_lesson(course, title=f"第{i}课") for i in range(1, 4)]
    courses.text_lesson(course, title="读一读", body="**要点**")
    secretary = make.user(role=Role.SECRETARY, org=make.org())
    expected = {f"videos/{lesson.position:02d}.mp4": (media.media_dir(lesson) / "download.mp4").read_bytes()
                for lesson in lessons}

    url = f"/courses/{course.id}/pack.zip"
    clients = []
    for _ in range(8):
        client = CsrfClient(app.test_client())
        client.post("/login", data={"identifier": secretary.member_no, "password": PASSWORD})
        clients.append(client)
    bodies, errors = [], []

    def download(client):
        try:
            response = client.get(url)
            assert response.status_code == 200, response.status_code
            assert response.mimetype == "application/zip"
            assert "attachment" in response.headers["Content-Disposition"]
            bodies.append(response.get_data())
            response.close()  # as a WSGI server does once the body is sent
        except BaseException as exc:  # reported from the main thread
            errors.append(exc)

    threads = [threading.Thread(target=download, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(bodies) == 8
    assert list(temp.iterdir()) == []  # nothing left in (or ever written to) the temporary folder
    for body in bodies:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            assert archive.testzip() is None
            # the videos first (stored as they are read), then the pages
            assert archive.namelist() == [*sorted(expected), "index.html", "pages/04.html", "attendance.html"]
            for name, data in expected.items():
                assert archive.getinfo(name).compress_type == zipfile.ZIP_STORED
                assert archive.read(name) == data
            assert "<strong>要点</strong>" in archive.read("pages/04.html").decode()
