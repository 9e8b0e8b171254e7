"""A database that refuses writes (SQLite ``PRAGMA query_only``; PostgreSQL
``default_transaction_read_only``): pages answer a Chinese 503, never the generic 500."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from school.extensions import db


@pytest.fixture
def read_only_database(app):
    engine = db.engine

    def refuse_writes(dbapi_connection, record):
        cursor = dbapi_connection.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute("PRAGMA query_only = ON")
        else:
            cursor.execute("SET SESSION default_transaction_read_only = on")
        cursor.close()
        if engine.dialect.name != "sqlite":
            dbapi_connection.commit()

    def switch(on: bool):
        db.session.remove()
        engine.dispose()
        if on:
            event.listen(engine, "connect", refuse_writes)
        elif event.contains(engine, "connect", refuse_writes):
            event.remove(engine, "connect", refuse_writes)
    yield switch
    switch(False)


def test_login_when_the_database_refuses_writes(app, client, make, read_only_database):
    member_no = make.user().member_no
    read_only_database(True)
    response = client.post("/login", data={"identifier": member_no, "password": "Passw0rd!"})
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "数据库暂时无法写入" in page and "没有保存" in page and "服务器出错了" not in page
    assert response.headers.get("Retry-After")
    read_only_database(False)
    response = client.post("/login", data={"identifier": member_no, "password": "Passw0rd!"})
    assert response.status_code == 302
