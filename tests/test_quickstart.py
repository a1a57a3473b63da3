"""An application written from Flask's documentation, run through the test client.

The code follows Flask's quickstart, routing, request data, error handling,
configuration, JSON, application/request context and testing pages with
``Flask`` renamed to ``Erlen``; docs/quickstart.md shows the same examples.
"""

from __future__ import annotations

import io
import typing as t
from pathlib import Path

import pytest
from markupsafe import escape
from werkzeug.exceptions import HTTPException
from werkzeug.utils import secure_filename

from erlen import (
    Erlen,
    abort,
    current_app,
    flash,
    g,
    get_flashed_messages,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

TEMPLATES = {
    "hello.html": (
        "<!doctype html>\n<title>Hello from Erlen</title>\n"
        "{% if person %}<h1>Hello {{ person }}!</h1>"
        "{% else %}<h1>Hello, World!</h1>{% endif %}"
    ),
    "page_not_found.html": "<h1>Page not found: {{ request.path }}</h1>",
    "flashes.html": (
        "{% for m in get_flashed_messages() %}<li>{{ m }}</li>{% endfor %}"
    ),
}


class DefaultSettings:
    GREETING = "Hello"
    ITEMS_PER_PAGE = 10
    SECRET_KEY = "dev"


class InvalidAPIUsage(Exception):
    """Flask's error-handling docs: an API exception with a payload."""

    status_code = 400

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        payload: dict[str, t.Any] | None = None,
    ) -> None:
        super().__init__()
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.payload = payload

    def to_dict(self) -> dict[str, t.Any]:
        rv = dict(self.payload or ())
        rv["message"] = self.message
        return rv


def create_app(root: Path, test_config: dict[str, t.Any] | None = None) -> Erlen:
    """The application factory from Flask's tutorial and testing docs."""
    (root / "templates").mkdir(exist_ok=True)
    for name, text in TEMPLATES.items():
        (root / "templates" / name).write_text(text)
    (root / "static").mkdir(exist_ok=True)
    (root / "static" / "style.css").write_text("body { color: black }")
    (root / "uploads").mkdir(exist_ok=True)

    app = Erlen("quickstart_app", root_path=str(root))
    app.config.from_object(DefaultSettings)
    app.config["UPLOAD_FOLDER"] = str(root / "uploads")
    if test_config is not None:
        app.config.from_mapping(test_config)

    @app.route("/")
    def index() -> t.Any:
        if "username" in session:
            return f"Logged in as {session['username']}"
        return "You are not logged in"

    @app.route("/hello/")
    @app.route("/hello/<name>")
    def hello(name: str | None = None) -> str:
        return render_template("hello.html", person=name)

    @app.route("/user/<username>")
    def show_user_profile(username: str) -> str:
        return f"User {escape(username)}"

    @app.route("/post/<int:post_id>")
    def show_post(post_id: int) -> str:
        return f"Post {post_id}"

    @app.route("/path/<path:subpath>")
    def show_subpath(subpath: str) -> str:
        return f"Subpath {escape(subpath)}"

    @app.route("/projects/")
    def projects() -> str:
        return "The project page"

    @app.route("/about")
    def about() -> str:
        return "The about page"

    @app.route("/login", methods=["GET", "POST"])
    def login() -> t.Any:
        error = None
        if request.method == "POST":
            if request.form["username"] == "admin" and request.form["password"] == "pw":
                session["username"] = request.form["username"]
                flash("You were successfully logged in")
                return redirect(url_for("index"))
            error = "Invalid credentials"
        return f"login form {error or ''}".strip()

    @app.route("/logout")
    def logout() -> t.Any:
        session.pop("username", None)
        return redirect(url_for("index"))

    @app.route("/flashes")
    def flashes() -> str:
        return render_template("flashes.html")

    @app.get("/search")
    def search() -> dict[str, t.Any]:
        page = request.args.get("page", 1, type=int)
        searchword = request.args.get("key", "")
        return {
            "page": page,
            "key": searchword,
            "per_page": current_app.config["ITEMS_PER_PAGE"],
        }

    @app.post("/upload")
    def upload_file() -> t.Any:
        f = request.files["the_file"]
        name = secure_filename(f.filename or "")
        f.save(Path(app.config["UPLOAD_FOLDER"]) / name)
        return {"saved": name}, 201

    @app.route("/me")
    def me_api() -> dict[str, t.Any]:
        return {
            "username": "admin",
            "theme": "dark",
            "image": url_for("static", filename="style.css"),
        }

    @app.route("/users")
    def users_api() -> list[dict[str, t.Any]]:
        return [{"id": 1, "name": "ann"}, {"id": 2, "name": "bob"}]

    @app.route("/custom")
    def custom() -> t.Any:
        resp = make_response(render_template("hello.html", person="custom"), 201)
        resp.headers["X-Something"] = "A value"
        resp.set_cookie("username", "the-username")
        return resp

    @app.route("/secret")
    def secret() -> t.Any:
        abort(401)

    @app.errorhandler(404)
    def page_not_found(error: HTTPException) -> t.Any:
        return render_template("page_not_found.html"), 404

    @app.errorhandler(InvalidAPIUsage)
    def invalid_api_usage(e: InvalidAPIUsage) -> t.Any:
        return jsonify(e.to_dict()), e.status_code

    @app.route("/api/user")
    def api_user() -> t.Any:
        user_id = request.args.get("user_id")
        if not user_id:
            raise InvalidAPIUsage("No user id provided!")
        if user_id != "1":
            raise InvalidAPIUsage(
                "No such user!", status_code=404, payload={"id": user_id}
            )
        return jsonify(user_id=1, name="ann")

    @app.post("/api/echo")
    def api_echo() -> t.Any:
        data = request.get_json()
        return jsonify(received=data, greeting=app.config["GREETING"])

    @app.before_request
    def load_user() -> None:
        g.user = session.get("username")

    @app.route("/whoami")
    def whoami() -> str:
        return str(g.user)

    @app.teardown_appcontext
    def close_db(exception: BaseException | None) -> None:
        db = g.pop("db", None)
        if db is not None:
            db.closed = True

    return app


class FakeDB:
    closed = False


@pytest.fixture
def app(tmp_path: Path) -> Erlen:
    return create_app(tmp_path, {"TESTING": True})


@pytest.fixture
def client(app: Erlen) -> t.Any:
    return app.test_client()


def test_config(tmp_path: Path) -> None:
    assert not create_app(tmp_path).testing
    app = create_app(tmp_path, {"TESTING": True})
    assert app.testing
    assert app.config["GREETING"] == "Hello"
    assert app.secret_key == "dev"


def test_hello_world(client: t.Any) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.text == "You are not logged in"


def test_variable_rules(client: t.Any) -> None:
    assert client.get("/user/ann").text == "User ann"
    assert client.get("/user/%3Cb%3E").text == "User &lt;b&gt;"
    assert client.get("/post/42").text == "Post 42"
    assert client.get("/post/abc").status_code == 404
    assert client.get("/path/a/b/c").text == "Subpath a/b/c"


def test_unique_urls(client: t.Any) -> None:
    rv = client.get("/projects")
    assert rv.status_code == 308
    assert rv.headers["Location"] == "http://localhost/projects/"
    assert client.get("/about/").status_code == 404


def test_url_building(app: Erlen) -> None:
    with app.test_request_context():
        assert url_for("index") == "/"
        assert url_for("login") == "/login"
        assert url_for("login", next="/") == "/login?next=/"
        assert url_for("show_user_profile", username="John Doe") == "/user/John%20Doe"
        assert url_for("static", filename="style.css") == "/static/style.css"


def test_templates(client: t.Any) -> None:
    assert b"<h1>Hello, World!</h1>" in client.get("/hello/").data
    rv = client.get("/hello/<script>")
    assert b"<h1>Hello &lt;script&gt;!</h1>" in rv.data


def test_static_files(client: t.Any) -> None:
    rv = client.get("/static/style.css")
    assert rv.status_code == 200
    assert rv.data == b"body { color: black }"
    assert rv.mimetype == "text/css"
    rv.close()


def test_http_methods(client: t.Any) -> None:
    assert client.get("/login").text == "login form"
    rv = client.post("/login", data={"username": "x", "password": "y"})
    assert rv.text == "login form Invalid credentials"
    rv = client.put("/login")
    assert rv.status_code == 405
    assert sorted(rv.headers["Allow"].split(", ")) == ["GET", "HEAD", "OPTIONS", "POST"]
    # A missing form key is a 400 Bad Request.
    assert client.post("/login", data={}).status_code == 400


def test_sessions_and_flashing(client: t.Any) -> None:
    rv = client.post(
        "/login",
        data={"username": "admin", "password": "pw"},
        follow_redirects=True,
    )
    assert rv.text == "Logged in as admin"
    assert rv.history[0].status_code == 302
    assert client.get("/whoami").text == "admin"
    assert client.get("/flashes").text == "<li>You were successfully logged in</li>"
    assert client.get("/flashes").text == ""
    with client.session_transaction() as sess:
        assert sess["username"] == "admin"
    client.get("/logout", follow_redirects=True)
    assert client.get("/").text == "You are not logged in"


def test_request_args_and_json(client: t.Any) -> None:
    assert client.get("/search?key=erlen&page=2").json == {
        "page": 2,
        "key": "erlen",
        "per_page": 10,
    }
    assert client.get("/search?page=x").json["page"] == 1
    rv = client.post("/api/echo", json={"a": [1, 2]})
    assert rv.json == {"greeting": "Hello", "received": {"a": [1, 2]}}
    assert (
        client.post("/api/echo", data="x", content_type="text/plain").status_code == 415
    )


def test_file_upload(client: t.Any, app: Erlen) -> None:
    rv = client.post(
        "/upload",
        data={"the_file": (io.BytesIO(b"uploaded"), "../../evil name.txt")},
    )
    assert rv.status_code == 201
    assert rv.json == {"saved": "evil_name.txt"}
    saved = Path(app.config["UPLOAD_FOLDER"]) / "evil_name.txt"
    assert saved.read_bytes() == b"uploaded"


def test_json_responses(client: t.Any) -> None:
    rv = client.get("/me")
    assert rv.mimetype == "application/json"
    assert rv.json == {
        "username": "admin",
        "theme": "dark",
        "image": "/static/style.css",
    }
    assert client.get("/users").json[1]["name"] == "bob"


def test_custom_response(client: t.Any) -> None:
    rv = client.get("/custom")
    assert rv.status_code == 201
    assert rv.headers["X-Something"] == "A value"
    assert b"Hello custom!" in rv.data
    assert client.get_cookie("username").value == "the-username"


def test_errors(client: t.Any) -> None:
    rv = client.get("/missing/page")
    assert rv.status_code == 404
    assert rv.text == "<h1>Page not found: /missing/page</h1>"
    assert client.get("/secret").status_code == 401


def test_api_errors(client: t.Any) -> None:
    rv = client.get("/api/user")
    assert rv.status_code == 400
    assert rv.json == {"message": "No user id provided!"}
    rv = client.get("/api/user?user_id=7")
    assert rv.status_code == 404
    assert rv.json == {"message": "No such user!", "id": "7"}
    assert client.get("/api/user?user_id=1").json == {"user_id": 1, "name": "ann"}


def test_app_context_and_g(app: Erlen) -> None:
    db = FakeDB()
    with app.app_context():
        assert current_app.config["GREETING"] == "Hello"
        g.db = db
    assert db.closed


def test_request_context_for_testing(app: Erlen) -> None:
    with app.test_request_context("/hello", method="POST"):
        assert request.path == "/hello"
        assert request.method == "POST"


def test_get_flashed_messages_with_categories(app: Erlen) -> None:
    with app.test_request_context():
        flash("a", "error")
        flash("b")
        assert get_flashed_messages(with_categories=True) == [
            ("error", "a"),
            ("message", "b"),
        ]
        assert get_flashed_messages(category_filter=["error"]) == ["a"]


def test_with_client_inspects_context(client: t.Any) -> None:
    with client:
        client.get("/search?key=ctx")
        assert request.args["key"] == "ctx"


def test_runner_and_cli_command(app: Erlen) -> None:
    import click

    @app.cli.command("hello")
    @click.option("--name", default="World")
    def hello_command(name: str) -> None:
        click.echo(f"Hello, {name}!")

    runner = app.test_cli_runner()
    result = runner.invoke(args=["hello", "--name", "Ann"])
    assert result.output == "Hello, Ann!\n"
