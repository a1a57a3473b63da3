"""Time ``url_for`` and template rendering for one framework; prints JSON.

``python -m benchmarks.micro FRAMEWORK N SECTION...`` with FRAMEWORK ``erlen``
(a Flask-API app through ``import erlen.flask_patch``), ``flask`` or ``jinja``
(no framework: a stock :class:`jinja2.Environment` beside
:class:`erlen.jinja.FastEnvironment`), and SECTION ``url_for`` and/or
``templates``.

The framework measurements run inside a real request: the test client
requests ``/blog/bench``, a view of the ``blog`` blueprint, and that view
times the calls, so ``url_for(".update")`` resolves against the request's
blueprint as it does in an application. Each ``url_for`` form is timed as a
loop of that one call written out in source. Every timing is the fastest of
:data:`BATCHES` batches after a warm-up, as in :mod:`benchmarks.worker`.

Printed: ``{"us": {key: µs}, "outputs": {key: text or sha256}}``. ``us`` is
µs per call for ``url_for/*`` keys and µs per render for ``render/*``,
``jinja2/*`` and ``fast/*`` keys; ``outputs`` is what each produced, which
must be the same on erlen and Flask (and for every renderer).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import typing as t

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(HERE, "templates")
BATCHES = 5
#: Row counts of the template section.
ROWS = (10, 100, 1000)
#: ``url_for`` calls in the template loop (``url_for_loop.html``).
LOOP = 100
#: form -> (what it is, endpoint, keyword arguments) of the ``url_for`` calls.
URL_FORMS: dict[str, tuple[str, str, dict[str, t.Any]]] = {
    "static": ('`url_for("index")`', "index", {}),
    "int": ('`url_for("blog.update", id=7)`', "blog.update", {"id": 7}),
    "relative": ('`url_for(".update", id=7)` in the blueprint', ".update", {"id": 7}),
    "query": (
        '`url_for("index", page=2, q="a b")`',
        "index",
        {"page": 2, "q": "a b"},
    ),
    "external": (
        '`url_for("blog.update", id=7, _external=True)`',
        "blog.update",
        {"id": 7, "_external": True},
    ),
    "anchor": (
        '`url_for("blog.update", id=7, _anchor="c")`',
        "blog.update",
        {"id": 7, "_anchor": "c"},
    ),
}


def best_us(fn: t.Callable[[], object], count: int) -> float:
    """µs per ``fn()``: fastest of :data:`BATCHES` batches after a warm-up."""
    per = max(1, count // BATCHES)
    for _ in range(min(per, 200)):
        fn()
    best = float("inf")
    for _ in range(BATCHES):
        start = time.perf_counter()
        for _ in range(per):
            fn()
        best = min(best, time.perf_counter() - start)
    return best / per * 1e6


def best_loop_us(loop: t.Callable[[int], object], count: int) -> float:
    """µs per iteration of ``loop(k)`` (``k`` iterations of one statement):
    fastest of :data:`BATCHES` batches after a warm-up."""
    per = max(1, count // BATCHES)
    loop(min(per, 200))
    best = float("inf")
    for _ in range(BATCHES):
        start = time.perf_counter()
        loop(per)
        best = min(best, time.perf_counter() - start)
    return best / per * 1e6


def call_loop(
    fn: t.Callable[..., object], endpoint: str, kwargs: dict[str, t.Any]
) -> t.Callable[[int], object]:
    """``loop(k)`` making the call ``fn(endpoint, **kwargs)`` ``k`` times, its
    arguments written out in the source as an application writes them (no
    wrapper function or ``**`` unpacking per call)."""
    args = ", ".join([repr(endpoint), *(f"{k}={v!r}" for k, v in kwargs.items())])
    source = f"def loop(k):\n    for _ in range(k):\n        fn({args})\n"
    space: dict[str, t.Any] = {"fn": fn}
    exec(source, space)
    return space["loop"]  # type: ignore[no-any-return]


class Author:
    """An object in each row: ``row.author.name`` is a real attribute lookup."""

    def __init__(self, name: str) -> None:
        self.name = name


def rows(n: int) -> list[dict[str, t.Any]]:
    """``n`` rows for ``rows.html``; names and titles need escaping."""
    return [
        {
            "id": i,
            "name": f"<user {i}>",
            "email": f"u{i}@example.com",
            "title": f"post {i} & more",
            "author": Author(f"Author {i % 7}"),
        }
        for i in range(n)
    ]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def renders(n: int, rows_: int) -> int:
    """Renders per timing of a ``rows_``-row page: about the same time each."""
    return max(BATCHES, n * 30 // rows_)


def framework_app(sections: list[str], n: int, out: dict[str, t.Any]) -> t.Any:
    """A Flask-API app whose ``/blog/bench`` view times ``sections`` into
    ``out`` (flask here is erlen's when ``erlen.flask_patch`` was imported)."""
    from flask import Blueprint, Flask, render_template, url_for

    app = Flask("micro", template_folder=TEMPLATES)

    @app.route("/")
    def index() -> str:
        return "index"

    bp = Blueprint("blog", "micro", url_prefix="/blog")

    @bp.route("/<int:id>/update")
    def update(id: int) -> str:
        return str(id)

    @bp.route("/bench")
    def bench() -> str:
        us, outputs = out["us"], out["outputs"]
        if "url_for" in sections:
            for form, (_, endpoint, kwargs) in URL_FORMS.items():
                outputs[f"url_for/{form}"] = url_for(endpoint, **kwargs)
                us[f"url_for/{form}"] = best_loop_us(
                    call_loop(url_for, endpoint, kwargs), n * 10
                )
            r = range(LOOP)
            looped = render_template("url_for_loop.html", r=r)
            outputs["url_for/template"] = looped
            count = max(BATCHES, n // 10)
            with_url = best_us(lambda: render_template("url_for_loop.html", r=r), count)
            plain = best_us(lambda: render_template("plain_loop.html", r=r), count)
            us["url_for/template"] = (with_url - plain) / LOOP
            us["url_for/template_render"] = with_url
            us["url_for/template_plain"] = plain
        if "templates" in sections:
            for size in ROWS:
                data = rows(size)
                outputs[f"render/{size}"] = sha(render_template("rows.html", rows=data))
                us[f"render/{size}"] = best_us(
                    lambda d=data: render_template("rows.html", rows=d),
                    renders(n, size),
                )
        return "done"

    app.register_blueprint(bp)
    return app


def jinja_only(sections: list[str], n: int, out: dict[str, t.Any]) -> None:
    """Stock Jinja2 and erlen's FastEnvironment, same loader and options as a
    Flask app's ``.html`` templates (autoescape on)."""
    if "templates" not in sections:
        return
    import jinja2

    from erlen.jinja import FastEnvironment

    envs = {
        "jinja2": jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True
        ),
        "fast": FastEnvironment(
            loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True
        ),
    }
    templates = {k: env.get_template("rows.html") for k, env in envs.items()}
    for size in ROWS:
        data = rows(size)
        texts = {k: tpl.render(rows=data) for k, tpl in templates.items()}
        assert texts["jinja2"] == texts["fast"], f"{size} rows differ"
        for k, tpl in templates.items():
            out["outputs"][f"{k}/{size}"] = sha(texts[k])
            out["us"][f"{k}/{size}"] = best_us(
                lambda d=data, tpl=tpl: tpl.render(rows=d), renders(n, size)
            )


def main() -> None:
    framework, n = sys.argv[1], int(sys.argv[2])
    sections = sys.argv[3:]
    out: dict[str, t.Any] = {"us": {}, "outputs": {}}
    if framework == "jinja":
        jinja_only(sections, n, out)
    else:
        if framework == "erlen":
            import erlen.flask_patch  # noqa: F401  (before flask is imported)
        response = framework_app(sections, n, out).test_client().get("/blog/bench")
        assert response.status_code == 200, response.data
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
