"""Flask-WTF (and WTForms), unchanged, on erlen through ``erlen.flask_patch``.

Validated against real Flask with the validation shim and
``ERLEN_VALIDATE_WITH_FLASK=1``, which only relaxes the check that ``flask``
really is erlen (`test_runs_on_erlen`).
"""

from __future__ import annotations

import io
import os
import re

import flask
import pytest
from flask import Blueprint, Flask, render_template_string, request
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError, CSRFProtect
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import StringField
from wtforms.validators import DataRequired, Length

import erlen


def test_runs_on_erlen() -> None:
    assert flask.Flask is erlen.Erlen
    if os.environ.get("ERLEN_VALIDATE_WITH_FLASK") != "1":
        assert flask.Flask.__module__ == "erlen.app"


class NameForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=10)])


class UploadForm(FlaskForm):
    upload = FileField(validators=[FileRequired(), FileAllowed(["txt"])])


FORM_TEMPLATE = """\
<form method="post">{{ form.csrf_token }}{{ form.name }}
{%- for error in form.name.errors %}<p class="error">{{ error }}</p>{% endfor %}
</form>"""

UPLOAD_TEMPLATE = """\
<form method="post" enctype="multipart/form-data">{{ form.csrf_token }}
{%- for error in form.upload.errors %}<p class="error">{{ error }}</p>{% endfor %}
</form>"""


@pytest.fixture
def csrf() -> CSRFProtect:
    return CSRFProtect()


@pytest.fixture
def app(csrf: CSRFProtect) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="wtf-secret", TESTING=True)
    csrf.init_app(app)

    @app.route("/form", methods=["GET", "POST"])
    def form_view() -> str:
        form = NameForm()
        if form.validate_on_submit():
            return f"hello {form.name.data}"
        return render_template_string(FORM_TEMPLATE, form=form)

    @app.route("/upload", methods=["GET", "POST"])
    def upload_view() -> str:
        form = UploadForm()
        if form.validate_on_submit():
            storage = form.upload.data
            body = storage.read().decode()
            return f"{storage.filename}:{len(body)}:{body}"
        return render_template_string(UPLOAD_TEMPLATE, form=form)

    @app.route("/plain", methods=["POST"])
    def plain() -> str:
        return "plain ok"

    @app.route("/token")
    def token() -> str:
        return render_template_string("{{ csrf_token() }}")

    @app.route("/hook", methods=["POST"])
    @csrf.exempt
    def hook() -> str:
        return "hook ok"

    api = Blueprint("api", __name__, url_prefix="/api")

    @api.route("/ping", methods=["POST"])
    def ping() -> str:
        return "pong"

    csrf.exempt(api)
    app.register_blueprint(api)
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def get_token(client: FlaskClient, url: str = "/form") -> str:
    response = client.get(url)
    assert response.status_code == 200
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', response.text)
    assert match is not None, response.text
    return match.group(1)


def test_form_renders_hidden_csrf_token(client: FlaskClient) -> None:
    response = client.get("/form")
    assert response.status_code == 200
    assert '<input id="csrf_token" name="csrf_token" type="hidden" value="' in (
        response.text
    )
    assert '<input id="name" maxlength="10" name="name" required type="text"' in (
        response.text
    )
    with client.session_transaction() as session:
        # The raw token lives in the session; the form carries a signed copy.
        assert len(session["csrf_token"]) == 40


def test_valid_submission(client: FlaskClient) -> None:
    token = get_token(client)
    response = client.post("/form", data={"csrf_token": token, "name": "ada"})
    assert response.status_code == 200
    assert response.text == "hello ada"


def test_validation_errors_rerender_form(client: FlaskClient) -> None:
    token = get_token(client)
    response = client.post("/form", data={"csrf_token": token, "name": ""})
    assert response.status_code == 200
    assert '<p class="error">This field is required.</p>' in response.text
    response = client.post("/form", data={"csrf_token": token, "name": "x" * 11})
    assert (
        '<p class="error">Field cannot be longer than 10 characters.</p>'
        in response.text
    )


def test_missing_csrf_token_is_400_with_reason(client: FlaskClient) -> None:
    client.get("/form")
    response = client.post("/form", data={"name": "ada"})
    assert response.status_code == 400
    assert "<title>400 Bad Request</title>" in response.text
    assert "<p>The CSRF token is missing.</p>" in response.text


def test_invalid_csrf_token_is_400_with_reason(client: FlaskClient) -> None:
    get_token(client)
    response = client.post("/form", data={"csrf_token": "forged", "name": "ada"})
    assert response.status_code == 400
    assert "<p>The CSRF token is invalid.</p>" in response.text


def test_token_without_session_is_400(app: Flask, client: FlaskClient) -> None:
    token = get_token(client)
    other = app.test_client()
    response = other.post("/form", data={"csrf_token": token, "name": "ada"})
    assert response.status_code == 400
    assert "<p>The CSRF session token is missing.</p>" in response.text


def test_csrf_error_handler(app: Flask, client: FlaskClient) -> None:
    @app.errorhandler(CSRFError)
    def handle_csrf_error(error: CSRFError) -> tuple[str, int]:
        return f"csrf failed: {error.description}", 419

    response = client.post("/plain")
    assert response.status_code == 419
    assert response.text == "csrf failed: The CSRF token is missing."


def test_csrf_protects_plain_views(client: FlaskClient) -> None:
    response = client.post("/plain")
    assert response.status_code == 400
    assert "<p>The CSRF token is missing.</p>" in response.text

    token = client.get("/token").text
    response = client.post("/plain", headers={"X-CSRFToken": token})
    assert response.status_code == 200
    assert response.text == "plain ok"

    response = client.post("/plain", data={"csrf_token": token})
    assert response.text == "plain ok"


def test_exempt_view_and_blueprint(client: FlaskClient) -> None:
    assert client.post("/hook").text == "hook ok"
    response = client.post("/api/ping")
    assert response.status_code == 200
    assert response.text == "pong"


def test_safe_methods_are_not_checked(client: FlaskClient) -> None:
    response = client.get("/form")
    assert response.status_code == 200


def test_json_submission_with_header_token(client: FlaskClient) -> None:
    token = client.get("/token").text
    response = client.post(
        "/form", json={"name": "bob"}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 200
    assert response.text == "hello bob"


def test_csrf_disabled_by_config(app: Flask, client: FlaskClient) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    assert client.post("/plain").text == "plain ok"
    assert client.post("/form", data={"name": "ada"}).text == "hello ada"


def test_file_upload(client: FlaskClient) -> None:
    token = get_token(client, "/upload")
    response = client.post(
        "/upload",
        data={"csrf_token": token, "upload": (io.BytesIO(b"some text"), "notes.txt")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert response.text == "notes.txt:9:some text"


def test_file_required_and_allowed(client: FlaskClient) -> None:
    token = get_token(client, "/upload")
    response = client.post(
        "/upload", data={"csrf_token": token}, content_type="multipart/form-data"
    )
    assert '<p class="error">This field is required.</p>' in response.text

    response = client.post(
        "/upload",
        data={"csrf_token": token, "upload": (io.BytesIO(b"\x89PNG"), "image.png")},
        content_type="multipart/form-data",
    )
    assert (
        '<p class="error">File does not have an approved extension: txt</p>'
        in response.text
    )


def test_form_outside_request_data(app: Flask) -> None:
    with app.test_request_context("/", method="POST", data={"name": "zed"}):
        assert request.form["name"] == "zed"
        form = NameForm(meta={"csrf": False})
        assert form.validate()
        assert form.data == {"name": "zed"}


def test_https_requires_same_origin_referrer(client: FlaskClient) -> None:
    token = client.get("/token", base_url="https://localhost").text
    headers = {"X-CSRFToken": token}
    response = client.post("/plain", base_url="https://localhost", headers=headers)
    assert response.status_code == 400
    assert "<p>The referrer header is missing.</p>" in response.text

    headers["Referer"] = "https://evil.example/form"
    response = client.post("/plain", base_url="https://localhost", headers=headers)
    assert response.status_code == 400
    assert "<p>The referrer does not match the host.</p>" in response.text

    headers["Referer"] = "https://localhost/form"
    response = client.post("/plain", base_url="https://localhost", headers=headers)
    assert response.status_code == 200
    assert response.text == "plain ok"
