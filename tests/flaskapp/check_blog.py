import pytest
from flaskr.db import get_db


def test_index(client, auth):
    response = client.get("/")
    assert b"Log In" in response.data
    assert b"Register" in response.data
    assert b"<title>Posts - Flaskr</title>" in response.data

    auth.login()
    response = client.get("/")
    assert b"Log Out" in response.data
    assert b"test title" in response.data
    assert b"by test on 2018-01-01" in response.data
    assert b"test\nbody" in response.data
    assert b'href="/1/update"' in response.data


def test_index_escapes_html(client, auth, app):
    with app.app_context():
        db = get_db()
        db.execute("UPDATE post SET title = '<script>alert(1)</script>'")
        db.commit()
    response = client.get("/")
    assert b"<script>alert(1)</script>" not in response.data
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in response.data


@pytest.mark.parametrize("path", ("/create", "/1/update", "/1/delete"))
def test_login_required(client, path):
    response = client.post(path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login"


def test_author_required(app, client, auth):
    with app.app_context():
        db = get_db()
        db.execute("UPDATE post SET author_id = 2 WHERE id = 1")
        db.commit()

    auth.login()
    assert client.post("/1/update").status_code == 403
    assert client.post("/1/delete").status_code == 403
    assert b'href="/1/update"' not in client.get("/").data


@pytest.mark.parametrize("path", ("/2/update", "/2/delete"))
def test_exists_required(client, auth, path):
    auth.login()
    response = client.post(path)
    assert response.status_code == 404
    assert b"Post id 2 doesn&#39;t exist." in response.data


def test_create(client, auth, app):
    auth.login()
    assert client.get("/create").status_code == 200
    response = client.post(
        "/create", data={"title": "created", "body": ""}, follow_redirects=True
    )
    assert response.status_code == 200
    assert '<div class="flash">Created “created”.</div>' in response.text

    with app.app_context():
        count = get_db().execute("SELECT COUNT(id) FROM post").fetchone()[0]
        assert count == 2


def test_update(client, auth, app):
    auth.login()
    assert client.get("/1/update").status_code == 200
    client.post("/1/update", data={"title": "updated", "body": ""})

    with app.app_context():
        post = get_db().execute("SELECT * FROM post WHERE id = 1").fetchone()
        assert post["title"] == "updated"


@pytest.mark.parametrize("path", ("/create", "/1/update"))
def test_create_update_validate(client, auth, path):
    auth.login()
    response = client.post(path, data={"title": "", "body": "kept"})
    assert b"Title is required." in response.data
    assert b">kept</textarea>" in response.data


def test_delete(client, auth, app):
    auth.login()
    response = client.post("/1/delete")
    assert response.headers["Location"] == "/"

    with app.app_context():
        post = get_db().execute("SELECT * FROM post WHERE id = 1").fetchone()
        assert post is None


def test_delete_requires_post(client, auth):
    auth.login()
    response = client.get("/1/delete")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}


def test_api_posts(client):
    response = client.get("/api/posts")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "count": 1,
        "posts": [
            {"id": 1, "title": "test title", "body": "test\nbody", "username": "test"}
        ],
    }
