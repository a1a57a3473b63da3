from flask import url_for
from flaskr import create_app


def test_config():
    assert not create_app().testing
    assert create_app({"TESTING": True}).testing


def test_hello(client):
    response = client.get("/hello")
    assert response.data == b"Hello, World!"
    assert response.mimetype == "text/html"


def test_not_found_page_uses_the_template(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert b"<title>Not Found - Flaskr</title>" in response.data
    assert b"The requested URL was not found on the server." in response.data
    # The 404 page extends base.html, so it has the navigation too.
    assert b'<a href="/auth/login">Log In</a>' in response.data


def test_static_routes_and_url_map(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert {
        "index",
        "hello",
        "static",
        "auth.register",
        "auth.login",
        "auth.logout",
        "blog.index",
        "blog.create",
        "blog.update",
        "blog.delete",
        "blog.api_posts",
    } <= endpoints
    with app.test_request_context():
        assert url_for("blog.update", id=3) == "/3/update"
        assert url_for("index") == "/"
