"""The HTML side of the blog: list, view, create, edit, delete posts."""

from __future__ import annotations

from typing import Any

from erlen import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from . import live, models
from .auth import login_required
from .db import Row

bp = Blueprint("blog", __name__)


def get_post_or_404(post_id: int) -> Row:
    """The post, or a 404 page."""
    post = models.get_post(post_id)
    if post is None:
        abort(404, description=f"There is no post number {post_id}.")
    return post


def get_own_post(post_id: int) -> Row:
    """The post if the logged-in user wrote it: 404 if missing, 403 if not theirs."""
    post = get_post_or_404(post_id)
    if post["author_id"] != g.user["id"]:
        abort(403, description="Only the author of a post can change or delete it.")
    return post


@bp.get("/")
def index() -> str:
    """Newest posts first, a page at a time (``?page=N``)."""
    page = request.args.get("page", 1, type=int)
    if page < 1:
        abort(404, description="Pages start at 1.")
    result = models.list_posts(page, current_app.config["POSTS_PER_PAGE"])
    if page > result.pages:
        abort(404, description=f"There is no page {page}; the last is {result.pages}.")
    # Page 1 shows new posts live, from the newest id there is now on.
    live_after = models.newest_post_id() if page == 1 else None
    return render_template("blog/index.html", page=result, live_after=live_after)


@bp.get("/posts/<int:post_id>")
def view(post_id: int) -> str:
    """One post, rendered from Markdown."""
    return render_template("blog/post.html", post=get_post_or_404(post_id))


@bp.route("/posts/new", methods=("GET", "POST"))
@login_required
def create() -> Any:
    """Write a new post."""
    values = {"title": "", "body": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {
            "title": request.form.get("title", ""),
            "body": request.form.get("body", ""),
        }
        errors = models.validate_post(values)
        if not errors:
            post_id = models.create_post(g.user["id"], values["title"], values["body"])
            live.publish_post(post_id)
            flash("Your post was published.", "success")
            return redirect(url_for("blog.view", post_id=post_id))
        flash("Please correct the errors below.", "error")
    html = render_template("blog/form.html", values=values, errors=errors, post=None)
    return html, 422 if errors else 200


@bp.route("/posts/<int:post_id>/edit", methods=("GET", "POST"))
@login_required
def edit(post_id: int) -> Any:
    """Change a post (author only)."""
    post = get_own_post(post_id)
    values = {"title": post["title"], "body": post["body"]}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {
            "title": request.form.get("title", ""),
            "body": request.form.get("body", ""),
        }
        errors = models.validate_post(values)
        if not errors:
            models.update_post(post_id, values["title"], values["body"])
            flash("Your changes were saved.", "success")
            return redirect(url_for("blog.view", post_id=post_id))
        flash("Please correct the errors below.", "error")
    html = render_template("blog/form.html", values=values, errors=errors, post=post)
    return html, 422 if errors else 200


@bp.post("/posts/<int:post_id>/delete")
@login_required
def delete(post_id: int) -> Any:
    """Delete a post (author only)."""
    post = get_own_post(post_id)
    models.delete_post(post_id)
    flash(f'Deleted "{post["title"]}".', "info")
    return redirect(url_for("blog.index"))
