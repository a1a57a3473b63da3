"""Flask-SQLAlchemy (SQLAlchemy 2), unchanged, on erlen through ``erlen.flask_patch``.

Validated against real Flask with the validation shim and
``ERLEN_VALIDATE_WITH_FLASK=1``, which only relaxes the check that ``flask``
really is erlen (`test_runs_on_erlen`).
"""

from __future__ import annotations

import os
import pathlib
import typing as t

import flask
import pytest
import sqlalchemy as sa
from flask import Flask, jsonify, request
from flask.testing import FlaskClient
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.record_queries import get_recorded_queries
from flask_sqlalchemy.track_modifications import models_committed
from sqlalchemy.orm import Mapped, mapped_column

import erlen

db = SQLAlchemy()


class User(db.Model):  # type: ignore[name-defined,misc]
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(40), unique=True)


class Item(db.Model):  # type: ignore[name-defined,misc]
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(40))


def test_runs_on_erlen() -> None:
    assert flask.Flask is erlen.Erlen
    if os.environ.get("ERLEN_VALIDATE_WITH_FLASK") != "1":
        assert flask.Flask.__module__ == "erlen.app"


@pytest.fixture
def sessions() -> list[t.Any]:
    return []


@pytest.fixture
def app(tmp_path: pathlib.Path, sessions: list[t.Any]) -> t.Iterator[Flask]:
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    app.config.update(
        TESTING=True,
        SQLALCHEMY_DATABASE_URI="sqlite:///data.db",
        SQLALCHEMY_RECORD_QUERIES=True,
        SQLALCHEMY_TRACK_MODIFICATIONS=True,
    )
    db.init_app(app)

    @app.post("/users")
    def create_user() -> tuple[dict[str, t.Any], int]:
        user = User(name=request.form["name"])
        db.session.add(user)
        db.session.commit()
        return {"id": user.id, "name": user.name}, 201

    @app.get("/users/<int:user_id>")
    def show_user(user_id: int) -> dict[str, t.Any]:
        user = db.get_or_404(User, user_id)
        return {"id": user.id, "name": user.name}

    @app.post("/pending")
    def pending() -> str:
        # Added but never committed: teardown must discard it.
        db.session.add(User(name=request.form["name"]))
        sessions.append(db.session())
        assert db.session() is sessions[-1]
        return str(len(db.session.new))

    @app.get("/items")
    def items() -> t.Any:
        page = db.paginate(db.select(Item).order_by(Item.id), max_per_page=20)
        return jsonify(
            ids=[item.id for item in page.items],
            page=page.page,
            per_page=page.per_page,
            pages=page.pages,
            total=page.total,
            has_next=page.has_next,
            has_prev=page.has_prev,
            next_num=page.next_num,
        )

    @app.get("/queries")
    def queries() -> dict[str, t.Any]:
        db.session.execute(sa.select(User)).all()
        recorded = get_recorded_queries()
        return {
            "count": len(recorded),
            "statement": recorded[-1].statement,
            "location": recorded[-1].location,
        }

    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_create_all_in_app_context_uses_instance_path(
    app: Flask, tmp_path: pathlib.Path
) -> None:
    assert (tmp_path / "instance" / "data.db").is_file()
    with app.app_context():
        inspector = sa.inspect(db.engine)
        assert sorted(inspector.get_table_names()) == ["item", "user"]


def test_engine_requires_app_context(app: Flask) -> None:
    with pytest.raises(RuntimeError, match="Working outside of application context"):
        db.engine  # noqa: B018


def test_models_through_requests(client: FlaskClient, app: Flask) -> None:
    response = client.post("/users", data={"name": "ada"})
    assert response.status_code == 201
    assert response.get_json() == {"id": 1, "name": "ada"}

    assert client.get("/users/1").get_json() == {"id": 1, "name": "ada"}
    response = client.get("/users/2")
    assert response.status_code == 404
    assert "<title>404 Not Found</title>" in response.text

    with app.app_context():
        assert db.session.scalars(sa.select(User.name)).all() == ["ada"]


def test_session_is_removed_after_each_request(
    client: FlaskClient, app: Flask, sessions: list[t.Any]
) -> None:
    assert client.post("/pending", data={"name": "ghost"}).text == "1"
    assert client.post("/pending", data={"name": "ghost"}).text == "1"
    first, second = sessions
    # Each request had its own session, closed by the teardown.
    assert first is not second
    assert list(first.new) == []
    assert not first.in_transaction()
    assert db.session.registry.registry == {}
    with app.app_context():
        assert db.session() is not first
        assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_session_is_scoped_to_the_app_context(app: Flask) -> None:
    with app.app_context():
        outer = db.session()
        assert db.session() is outer
        with app.app_context():
            assert db.session() is not outer
        assert db.session() is outer
    assert db.session.registry.registry == {}


def test_pagination(client: FlaskClient, app: Flask) -> None:
    with app.app_context():
        db.session.add_all([Item(title=f"item {n}") for n in range(1, 26)])
        db.session.commit()

    data = client.get("/items").get_json()
    assert data == {
        "ids": list(range(1, 21)),
        "page": 1,
        "per_page": 20,
        "pages": 2,
        "total": 25,
        "has_next": True,
        "has_prev": False,
        "next_num": 2,
    }
    data = client.get("/items?page=3&per_page=10").get_json()
    assert data["ids"] == [21, 22, 23, 24, 25]
    assert (data["page"], data["pages"], data["has_next"]) == (3, 3, False)
    # per_page is capped by max_per_page.
    assert client.get("/items?per_page=100").get_json()["per_page"] == 20
    # With error_out (the default) a bad or out-of-range page is a 404.
    assert client.get("/items?page=abc").status_code == 404
    assert client.get("/items?page=0").status_code == 404
    assert client.get("/items?page=4&per_page=10").status_code == 404


def test_recorded_queries(client: FlaskClient) -> None:
    data = client.get("/queries").get_json()
    assert data["count"] == 1
    assert data["statement"].startswith("SELECT user.id, user.name")
    assert "test_ext_sqlalchemy.py" in data["location"]


def test_models_committed_signal(client: FlaskClient, app: Flask) -> None:
    received: list[tuple[object, list[tuple[str, str]]]] = []

    def on_commit(sender: object, changes: list[tuple[t.Any, str]]) -> None:
        received.append((sender, [(obj.name, op) for obj, op in changes]))

    with models_committed.connected_to(on_commit, app):
        client.post("/users", data={"name": "grace"})
    assert received == [(app, [("grace", "insert")])]


def test_shell_context(app: Flask) -> None:
    with app.app_context():
        context = app.make_shell_context()
    assert context["app"] is app
    assert context["db"] is db
    assert context["User"] is User
    assert context["Item"] is Item


def test_shell_command_has_models_and_session(app: Flask) -> None:
    from flask.cli import FlaskGroup

    code = (
        'print(sorted(k for k in locals() if not k.startswith("_")),'
        " db.session.scalar(db.select(db.func.count(User.id))))\n"
    )
    result = app.test_cli_runner().invoke(
        FlaskGroup(create_app=lambda: app), ["shell"], input=code
    )
    assert result.exception is None, result.output
    assert ">>> ['Item', 'User', 'app', 'db', 'g'] 0\n" in result.output


def test_error_in_view_discards_the_session(app: Flask, client: FlaskClient) -> None:
    @app.post("/broken")
    def broken() -> str:
        db.session.add(User(name="half-done"))
        db.session.flush()
        raise RuntimeError("failed after flush")

    app.testing = False
    response = client.post("/broken")
    assert response.status_code == 500
    assert db.session.registry.registry == {}
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0
