import pytest
from flask import g, get_flashed_messages, session
from flaskr.db import get_db


def test_register(client, app):
    assert client.get("/auth/register").status_code == 200
    response = client.post("/auth/register", data={"username": "a", "password": "a"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login"

    with app.app_context():
        user = get_db().execute("SELECT * FROM user WHERE username = 'a'").fetchone()
        assert user is not None
        assert user["password"] != "a"


def test_register_flashes_welcome_on_login_page(client):
    response = client.post(
        "/auth/register",
        data={"username": "newbie", "password": "pw"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert response.request.path == "/auth/login"
    assert b'<div class="flash">Welcome, newbie! Please log in.</div>' in response.data
    # Flashed messages are shown once.
    assert b"Welcome, newbie!" not in client.get("/auth/login").data


@pytest.mark.parametrize(
    ("username", "password", "message"),
    (
        ("", "", b"Username is required."),
        ("a", "", b"Password is required."),
        ("test", "test", b"already registered"),
    ),
)
def test_register_validate_input(client, username, password, message):
    response = client.post(
        "/auth/register", data={"username": username, "password": password}
    )
    assert response.status_code == 200
    assert message in response.data


def test_login(client, auth):
    assert client.get("/auth/login").status_code == 200
    response = auth.login()
    assert response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("session=")
    assert "HttpOnly" in cookie

    with client:
        client.get("/")
        assert session["user_id"] == 1
        assert g.user["username"] == "test"


@pytest.mark.parametrize(
    ("username", "password", "message"),
    (("a", "test", b"Incorrect username."), ("test", "a", b"Incorrect password.")),
)
def test_login_validate_input(auth, username, password, message):
    response = auth.login(username, password)
    assert response.status_code == 200
    assert message in response.data


def test_login_error_is_flashed(client, auth):
    with client:
        auth.login("nobody", "x")
        assert get_flashed_messages() == ["Incorrect username."]


def test_logout(client, auth):
    auth.login()

    with client:
        response = auth.logout()
        assert response.headers["Location"] == "/"
        assert "user_id" not in session


def test_session_is_signed(client, auth):
    auth.login()
    cookie = client.get_cookie("session")
    assert cookie is not None
    client.set_cookie("session", cookie.value[:-2] + "xx")
    response = client.get("/")
    assert b"Log In" in response.data
    assert b"Log Out" not in response.data
