// New posts appear at the top of the index as they are published.
// Server-sent events from /live/posts (see examples/blog/live.py); the
// browser reconnects by itself and sends Last-Event-ID, so nothing is missed.
// Post data is only ever inserted as text (textContent), never as HTML.
(function () {
  "use strict";
  var list = document.getElementById("posts");
  if (!list || !list.dataset.live || !window.EventSource) return;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function render(post) {
    var article = element("article", "card post-summary live-new");
    article.dataset.postId = String(post.id);
    var title = element("h2");
    var link = element("a", null, post.title);
    link.href = post.url;
    title.appendChild(link);
    var meta = element("p", "meta");
    var created = String(post.created);
    var time = element("time", null, created.slice(0, 16));
    time.setAttribute("datetime", created);
    meta.append("by ", element("strong", null, post.author), " on ", time);
    article.append(title, meta, element("p", "excerpt", post.excerpt));
    return article;
  }

  var url = list.dataset.live + "?after=" + encodeURIComponent(list.dataset.after || "0");
  var source = new EventSource(url);
  // "open", "reconnecting" or "closed" (the server said 204: not live here).
  source.addEventListener("open", function () { list.dataset.liveState = "open"; });
  source.addEventListener("error", function () {
    list.dataset.liveState = source.readyState === EventSource.CLOSED ? "closed" : "reconnecting";
  });
  source.addEventListener("post", function (event) {
    var post = JSON.parse(event.data);
    if (list.querySelector('[data-post-id="' + Number(post.id) + '"]')) return;
    var empty = list.querySelector(".empty");
    if (empty) empty.remove();
    list.prepend(render(post));
  });
  window.addEventListener("pagehide", function () { source.close(); });
})();
