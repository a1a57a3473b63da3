"""``send_from_directory`` never serves a file reached through a symbolic link
that leads out of its directory (erlen goes beyond Flask here); links that
stay inside still work."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from erlen import Erlen, send_from_directory


@pytest.fixture
def app(tmp_path: Path) -> Erlen:
    (tmp_path / "secret.txt").write_text("secret")
    files = tmp_path / "files"
    (files / "sub").mkdir(parents=True)
    (files / "ok.txt").write_text("ok")
    (files / "sub" / "inner.txt").write_text("inner")
    os.symlink(tmp_path / "secret.txt", files / "out-link.txt")
    os.symlink(tmp_path, files / "out-dir")
    os.symlink(files / "sub", files / "in-dir")
    app = Erlen(
        __name__,
        root_path=str(tmp_path),
        static_folder="files",
        static_url_path="/static",
    )

    @app.route("/files/<path:name>")
    def files_view(name: str) -> object:
        return send_from_directory("files", name)

    return app


@pytest.mark.parametrize("prefix", ["/files", "/static"])
@pytest.mark.parametrize(
    ("name", "status", "body"),
    [
        ("ok.txt", 200, b"ok"),
        ("in-dir/inner.txt", 200, b"inner"),
        ("out-link.txt", 404, None),
        ("out-dir/secret.txt", 404, None),
        ("../secret.txt", 404, None),
        ("%2e%2e/secret.txt", 404, None),
        ("sub/..%2f..%2fsecret.txt", 404, None),
    ],
)
def test_links_out_of_the_folder_are_404(
    app: Erlen, prefix: str, name: str, status: int, body: bytes | None
) -> None:
    response = app.test_client().get(f"{prefix}/{name}")
    assert response.status_code == status
    if body is not None:
        assert response.data == body
    assert b"secret" not in response.data
    response.close()
