import sqlite3

import pytest
from flaskr.db import get_db


def test_get_close_db(app):
    with app.app_context():
        db = get_db()
        assert db is get_db()

    with pytest.raises(sqlite3.ProgrammingError) as e:
        db.execute("SELECT 1")

    assert "closed" in str(e.value)


def test_init_db_command_calls_init_db(runner, monkeypatch):
    class Recorder:
        called = False

    def fake_init_db():
        Recorder.called = True

    monkeypatch.setattr("flaskr.db.init_db", fake_init_db)
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0
    assert "Initialized" in result.output
    assert Recorder.called


def test_init_db_command_resets_tables(app, runner):
    with app.app_context():
        assert get_db().execute("SELECT COUNT(*) FROM user").fetchone()[0] == 2

    result = runner.invoke(args=["init-db"])
    assert result.exception is None, result.exception
    assert result.output == "Initialized the database.\n"

    with app.app_context():
        assert get_db().execute("SELECT COUNT(*) FROM user").fetchone()[0] == 0
        assert get_db().execute("SELECT COUNT(*) FROM post").fetchone()[0] == 0


def test_init_db_command_is_listed_in_help(runner):
    result = runner.invoke(args=["--help"])
    assert result.exit_code == 0
    assert "init-db" in result.output
    assert "Clear the existing data and create new tables." in result.output
