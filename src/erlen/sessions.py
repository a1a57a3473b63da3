"""Sessions: the session object, the pluggable :class:`SessionInterface`, and
the default interface that keeps the session in a signed cookie.

The cookie format is Flask's (itsdangerous ``URLSafeTimedSerializer``, salt
``"cookie-session"``, HMAC-SHA1, tagged JSON payload), so a cookie written by
a Flask application is read by erlen and the other way round.
"""

from __future__ import annotations

import binascii
import collections.abc as cabc
import hashlib
import hmac
import json
import re
import struct
import time
import typing as t
import zlib
from datetime import datetime, timezone
from urllib.parse import quote

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer
from werkzeug.datastructures import (
    CallbackDict,
    EnvironHeaders,
    Headers,
    ImmutableMultiDict,
)
from werkzeug.http import dump_cookie, http_date
from werkzeug.sansio.request import Request as _SansIORequest
from werkzeug.sansio.response import Response as _SansIOResponse

from .globals import _cv_app
from .json.provider import DefaultJSONProvider
from .json.tag import TaggedJSONSerializer
from .wrappers import _PLAIN_HEADERS

if t.TYPE_CHECKING:
    from .app import Erlen
    from .wrappers import Request, Response


class SessionMixin(cabc.MutableMapping[str, t.Any]):
    """The session attributes on top of a mapping."""

    @property
    def permanent(self) -> bool:
        """Whether the cookie outlives the browser session (until
        ``PERMANENT_SESSION_LIFETIME``); stored as the ``"_permanent"`` key."""
        return self.get("_permanent", False)  # type: ignore[no-any-return]

    @permanent.setter
    def permanent(self, value: bool) -> None:
        self["_permanent"] = bool(value)

    #: Whether the session was just created. Not all implementations can
    #: tell, so this defaults to ``False``.
    new = False

    #: Whether the session changed and must be saved. Implementations that
    #: cannot detect changes leave this ``True``.
    modified = True

    #: Whether the session was used during the request; a ``Vary: Cookie``
    #: header is added then. Set by the request context whenever the session
    #: is reached through it (the ``session`` proxy does), as in Flask 3.1.3.
    accessed = False


class SecureCookieSession(CallbackDict[str, t.Any], SessionMixin):
    """The session of :class:`SecureCookieSessionInterface`: a dict that
    tracks writes (:attr:`modified`).

    Only the session dict itself is tracked; after changing a mutable value
    inside it (e.g. appending to a list), set ``session.modified = True``.
    """

    modified = False

    def __init__(self, initial: cabc.Mapping[str, t.Any] | None = None) -> None:
        def on_update(self: SecureCookieSession) -> None:
            self.modified = True

        super().__init__(initial, on_update)


_NO_SECRET_KEY = (
    "The session is unavailable because no secret key was set.  Set the"
    " secret_key on the application to something unique and secret."
)


class NullSession(SecureCookieSession):
    """The empty, read-only session used when no secret key is set. Reading
    works; any change raises a :exc:`RuntimeError` that says to set one."""

    def _fail(self, *args: t.Any, **kwargs: t.Any) -> t.NoReturn:
        raise RuntimeError(_NO_SECRET_KEY)

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _fail
    __ior__ = _fail
    del _fail


class SessionInterface:
    """How the application opens and saves sessions; replace
    ``app.session_interface`` with a subclass to store sessions elsewhere.

    Only :meth:`open_session` and :meth:`save_session` must be implemented.
    The session returned must be a mapping with the :class:`SessionMixin`
    attributes, e.g. ``class Session(dict, SessionMixin): pass``. Returning
    ``None`` from :meth:`open_session` makes the request use
    :meth:`make_null_session` instead.

    Several requests of one session may run concurrently, and sessions are
    opened and saved in the order requests start and finish; a backend that
    needs consistency must synchronise itself.
    """

    #: The class :meth:`make_null_session` creates and
    #: :meth:`is_null_session` checks for.
    null_session_class: type[SessionMixin] = NullSession

    #: Whether the interface pickles session data (extensions may ask).
    pickle_based = False

    def make_null_session(self, app: Erlen) -> NullSession:
        """Create the read-only stand-in session used when a real session
        cannot be opened."""
        return self.null_session_class()  # type: ignore[return-value]

    def is_null_session(self, obj: object) -> bool:
        """Whether ``obj`` is a null session; null sessions are never saved."""
        return isinstance(obj, self.null_session_class)

    def get_cookie_name(self, app: Erlen) -> str:
        """The cookie name: ``SESSION_COOKIE_NAME``."""
        return app.config["SESSION_COOKIE_NAME"]  # type: ignore[no-any-return]

    def get_cookie_domain(self, app: Erlen) -> str | None:
        """The cookie's ``Domain``: ``SESSION_COOKIE_DOMAIN``. Unset (the
        default) means browsers send it back to this exact host only."""
        return app.config["SESSION_COOKIE_DOMAIN"]  # type: ignore[no-any-return]

    def get_cookie_path(self, app: Erlen) -> str:
        """The cookie's ``Path``: ``SESSION_COOKIE_PATH``, else
        ``APPLICATION_ROOT``."""
        config = app.config
        return config["SESSION_COOKIE_PATH"] or config["APPLICATION_ROOT"]  # type: ignore[no-any-return]

    def get_cookie_httponly(self, app: Erlen) -> bool:
        """Whether the cookie is ``HttpOnly``: ``SESSION_COOKIE_HTTPONLY``."""
        return app.config["SESSION_COOKIE_HTTPONLY"]  # type: ignore[no-any-return]

    def get_cookie_secure(self, app: Erlen) -> bool:
        """Whether the cookie is ``Secure``: ``SESSION_COOKIE_SECURE``."""
        return app.config["SESSION_COOKIE_SECURE"]  # type: ignore[no-any-return]

    def get_cookie_samesite(self, app: Erlen) -> str | None:
        """The cookie's ``SameSite`` (``"Strict"``, ``"Lax"`` or ``None``):
        ``SESSION_COOKIE_SAMESITE``."""
        return app.config["SESSION_COOKIE_SAMESITE"]  # type: ignore[no-any-return]

    def get_cookie_partitioned(self, app: Erlen) -> bool:
        """Whether the cookie is ``Partitioned`` (CHIPS):
        ``SESSION_COOKIE_PARTITIONED``."""
        return app.config["SESSION_COOKIE_PARTITIONED"]  # type: ignore[no-any-return]

    def get_expiration_time(self, app: Erlen, session: SessionMixin) -> datetime | None:
        """When the cookie expires: now plus ``permanent_session_lifetime``
        for a permanent session, else ``None`` (when the browser closes)."""
        if session.permanent:
            return datetime.now(timezone.utc) + app.permanent_session_lifetime
        return None

    def should_set_cookie(self, app: Erlen, session: SessionMixin) -> bool:
        """Whether to send ``Set-Cookie``: when the session was modified, or
        when it is permanent and ``SESSION_REFRESH_EACH_REQUEST`` is true (to
        push the expiry forward)."""
        return session.modified or bool(
            session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]
        )

    def open_session(self, app: Erlen, request: Request) -> SessionMixin | None:
        """Load the session for ``request``, or return ``None`` to use a null
        session. Called the first time the request's session is used."""
        raise NotImplementedError()

    def save_session(
        self, app: Erlen, session: SessionMixin, response: Response
    ) -> None:
        """Persist ``session`` and update ``response`` (cookies, ``Vary``).
        Not called for null sessions."""
        raise NotImplementedError()


#: The tagged JSON serializer shared by :class:`SecureCookieSessionInterface`
#: instances (register extra tags on it to extend every session).
session_json_serializer = TaggedJSONSerializer()


def _sha1(string: bytes = b"") -> t.Any:
    # Looked up at call time: FIPS builds may lack SHA-1, and only apps that
    # keep this default should fail.
    return hashlib.sha1(string)


class _KeyCachingSigner(TimestampSigner):
    """itsdangerous' timestamp signer, deriving each key once.

    The derived key depends only on the secret key, salt, derivation and
    digest, yet itsdangerous recomputes it (an HMAC) for every sign and
    verify.
    """

    _derived: t.ClassVar[dict[tuple[t.Any, ...], bytes]] = {}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        if secret_key is None:
            secret_key = self.secret_keys[-1]
        cache_key = (secret_key, self.salt, self.key_derivation, self.digest_method)
        key = self._derived.get(cache_key)
        if key is None:
            if len(self._derived) > 64:
                self._derived.clear()
            key = self._derived[cache_key] = super().derive_key(secret_key)
        return key


_B64_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_B64_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_INT64 = struct.Struct(">Q")


def _b64encode(data: bytes) -> bytes:
    # itsdangerous' base64_encode: URL-safe alphabet, no padding.
    return (
        binascii.b2a_base64(data, newline=False).translate(_B64_TO_URLSAFE).rstrip(b"=")
    )


def _b64decode(data: bytes) -> bytes:
    # itsdangerous' base64_decode: padding restored, characters outside the
    # alphabet skipped (binascii's non-strict mode, as base64.b64decode).
    return binascii.a2b_base64(
        (data + b"=" * (-len(data) % 4)).translate(_B64_FROM_URLSAFE)
    )


class _KeyedMac:
    """HMAC (RFC 2104) with one key, for many messages: the hash states after
    the padded inner and outer keys are computed once, and each message
    costs two hash copies, an update each and two digests. That is what
    :func:`hmac.new` objects compute, at less than half the cost of copying
    one of them under OpenSSL 3; checked against :func:`hmac.new` when
    built, which is used instead if the two ever differ."""

    __slots__ = ("_inner", "_mac", "_outer")

    def __init__(self, key: bytes, digest_method: t.Any) -> None:
        self._mac = hmac.new(key, digestmod=digest_method)
        self._inner: t.Any = None
        self._outer: t.Any = None
        try:
            inner, outer = digest_method(), digest_method()
            block = inner.block_size
            if len(key) > block:
                key = digest_method(key).digest()
            key = key.ljust(block, b"\0")
            inner.update(key.translate(_PAD_INNER))
            outer.update(key.translate(_PAD_OUTER))
        except Exception:
            return
        self._inner, self._outer = inner, outer
        probe = b"erlen session codec self-check"
        if self.sign(probe) != self._hmac(probe):
            self._inner = self._outer = None

    def _hmac(self, value: bytes) -> bytes:
        mac = self._mac.copy()
        mac.update(value)
        return mac.digest()

    def sign(self, value: bytes) -> bytes:
        """The HMAC of ``value``."""
        inner = self._inner
        if inner is None:
            return self._hmac(value)
        inner = inner.copy()
        inner.update(value)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()  # type: ignore[no-any-return]


_PAD_INNER = bytes(x ^ 0x36 for x in range(256))
_PAD_OUTER = bytes(x ^ 0x5C for x in range(256))

#: Returned by :meth:`_SessionCodec.loads` for a cookie itsdangerous rejects.
_INVALID: t.Any = object()


class _SessionCodec:
    """The work of the session's ``URLSafeTimedSerializer``, without its
    per-call objects.

    It produces the same cookie bytes as ``signer.dumps`` and accepts exactly
    what ``signer.loads(value, max_age=...)`` accepts (answering
    :data:`_INVALID` where itsdangerous raises :exc:`BadData`): keys are
    derived once by the signer itself, the HMAC is one C call, and nothing
    else is allocated. Only built for the serializer
    :meth:`SecureCookieSessionInterface.get_signing_serializer` makes, with
    a text serializer.
    """

    __slots__ = ("_encoder", "_last_payload", "macs", "serializer", "tag_order")

    def __init__(self, signer: URLSafeTimedSerializer) -> None:
        base = signer.make_signer()
        # One keyed HMAC per derived key, newest (the signing key) first as
        # itsdangerous tries them; each use copies it, so the key is not
        # processed again.
        self.macs = [
            _KeyedMac(base.derive_key(key), base.digest_method)
            for key in reversed(base.secret_keys)
        ]
        self.serializer: t.Any = signer.serializer
        #: The serializer's tags when they are the stock ones (then a dict of
        #: plain JSON values needs no tagging); ``None`` otherwise.
        self.tag_order = _stock_tag_order(self.serializer)
        self._encoder: tuple[t.Any, json.JSONEncoder] | None = None
        self._last_payload: tuple[bytes, bytes] | None = None

    def dumps(self, obj: t.Any) -> str:
        """``URLSafeTimedSerializer.dumps(obj)``."""
        raw: t.Any = self._dumps_json(obj)
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        last = self._last_payload
        if last is not None and last[0] == raw:
            # The same session again (a refreshed permanent session): the
            # same compressed, encoded payload; only the timestamp changes.
            payload = last[1]
        else:
            compressed = zlib.compress(raw)
            if len(compressed) < len(raw) - 1:
                payload = b"." + _b64encode(compressed)
            else:
                payload = _b64encode(raw)
            self._last_payload = (raw, payload)
        value = (
            payload + b"." + _b64encode(_INT64.pack(int(time.time())).lstrip(b"\x00"))
        )
        signed = value + b"." + _b64encode(self.macs[0].sign(value))
        return signed.decode("utf-8")

    def loads(self, cookie: str | bytes, max_age: int) -> t.Any:
        """``URLSafeTimedSerializer.loads(cookie, max_age=max_age)``, or
        :data:`_INVALID` where that raises :exc:`BadData`."""
        data = cookie.encode("utf-8") if isinstance(cookie, str) else cookie
        value, sep, sig = data.rpartition(b".")
        if not sep:
            return _INVALID
        try:
            raw_sig = _b64decode(sig)
        except (TypeError, ValueError):
            return _INVALID
        for mac in self.macs:
            if hmac.compare_digest(raw_sig, mac.sign(value)):
                break
        else:
            return _INVALID
        payload, sep, stamp = value.rpartition(b".")
        if not sep:
            return _INVALID
        try:
            stamp_int: int = _INT64.unpack(_b64decode(stamp).rjust(8, b"\x00"))[0]
        except Exception:
            return _INVALID
        # Within [now - max_age, now], so itsdangerous' conversion of the
        # timestamp to a datetime cannot fail either.
        age = int(time.time()) - stamp_int
        if age > max_age or age < 0:
            return _INVALID
        compressed = payload.startswith(b".")
        if compressed:
            payload = payload[1:]
        try:
            raw: t.Any = _b64decode(payload)
            if compressed:
                raw = zlib.decompress(raw)
            return self._loads_json(raw.decode("utf-8"))
        except Exception:
            return _INVALID

    def _provider(self) -> t.Any:
        """The current app's JSON provider if it is the stock one, which the
        tagged serializer's ``dumps``/``loads`` would call; else ``None``."""
        if self.tag_order is None or tuple(self.serializer.order) != self.tag_order:
            return None
        app_ctx = _cv_app.get(None)
        if app_ctx is None:
            return None
        provider = app_ctx.app.json
        if provider.__class__ is not DefaultJSONProvider or (
            "dumps" in vars(provider) or "loads" in vars(provider)
        ):
            return None
        return provider

    def _dumps_json(self, obj: t.Any) -> str:
        """``self.serializer.dumps(obj)``: a session of plain JSON values is
        its own tagged form, and the provider's ``json.dumps`` call is one
        reused encoder with the same options."""
        provider = self._provider()
        if provider is None or not _untagged(obj, self.serializer.tags):
            return self.serializer.dumps(obj)  # type: ignore[no-any-return]
        key = (provider.default, provider.ensure_ascii, provider.sort_keys)
        cached = self._encoder
        if cached is None or cached[0] != key:
            encoder = json.JSONEncoder(
                default=provider.default,
                ensure_ascii=provider.ensure_ascii,
                sort_keys=provider.sort_keys,
                separators=(",", ":"),
            )
            self._encoder = cached = (key, encoder)
        return cached[1].encode(obj)

    def _loads_json(self, text: str) -> t.Any:
        """``self.serializer.loads(text)``, leaving a dict of plain JSON
        values as it is (there is nothing in it to untag)."""
        if self._provider() is None:
            return self.serializer.loads(text)
        data = json.loads(text)
        if _untagged(data, self.serializer.tags):
            return data
        return self.serializer._untag_scan(data)


_PLAIN_JSON = frozenset({str, int, float, bool, type(None)})
_STOCK_TAG_TYPES = tuple(type(tag) for tag in TaggedJSONSerializer().order)


def _stock_tag_order(serializer: t.Any) -> tuple[t.Any, ...] | None:
    """The serializer's tag instances if it is a :class:`TaggedJSONSerializer`
    with exactly the default tags, in the default order."""
    if serializer.__class__ is not TaggedJSONSerializer:
        return None
    order = tuple(serializer.order)
    if tuple(type(tag) for tag in order) != _STOCK_TAG_TYPES:
        return None
    return order


def _untagged(value: t.Any, tags: t.Any) -> bool:
    """Whether the stock tags leave ``value`` as it is, both ways: a dict of
    str, int, float, bool and None values that is not a one-item dict keyed
    by a tag."""
    if value.__class__ is not dict:
        return False
    if len(value) == 1 and next(iter(value)) in tags:
        return False
    for item in value.values():  # noqa: SIM110 (a loop is faster than all())
        if item.__class__ not in _PLAIN_JSON:
            return False
    return True


# One cookie of a Cookie header, as Werkzeug's parse_cookie reads it: a key,
# an optional value (quoted or a token), spaces around both ignored, ended
# by ";" or the end of the header.
_COOKIE_PAIR = re.compile(
    r'[ \t]*([^ \t=";]+)(?:[ \t]*=[ \t]*("(?:[^\\"]|\\.)*"|[^ \t";]*))?[ \t]*(?:;|\Z)',
    re.ASCII,
)
_COOKIE_SPECIAL = re.compile(r'[ \t=";]')
#: Other spellings of the Cookie header's environ key that Werkzeug's
#: ``request.headers.getlist("Cookie")`` would also collect.
_OTHER_COOKIE_KEYS = frozenset(
    "HTTP_" + "".join(c.upper() if bits >> i & 1 else c for i, c in enumerate("cookie"))
    for bits in range(63)
)
_plain_cookie_classes: dict[type, bool] = {}


def _plain_cookies(cls: type) -> bool:
    """Whether ``cls.cookies`` is Werkzeug's parse of the Cookie header into
    an ``ImmutableMultiDict``."""
    plain = _plain_cookie_classes.get(cls)
    if plain is None:
        plain = _plain_cookie_classes[cls] = (
            getattr(cls, "cookies", None) is _SansIORequest.cookies
            and getattr(cls, "dict_storage_class", None) is ImmutableMultiDict
        )
    return plain


def _session_cookie(request: Request, name: str) -> str | None:
    """``request.cookies.get(name)``, without parsing the other cookies.

    Reads the one cookie straight from the ``Cookie`` header with Werkzeug's
    grammar (first occurrence wins, as ``MultiDict.get``); a quoted value, an
    unusual request class or environ defer to ``request.cookies``.
    """
    cookies = request.__dict__.get("cookies")
    if cookies is not None:
        return cookies.get(name)  # type: ignore[no-any-return]
    environ = request.__dict__.get("environ")
    headers = request.__dict__.get("headers")
    if (
        environ.__class__ is not dict
        or headers.__class__ is not EnvironHeaders
        or headers.environ is not environ
        or not _plain_cookies(type(request))
    ):
        return request.cookies.get(name)
    raw = environ.get("HTTP_COOKIE")
    if raw is None:
        raw = ""
    try:
        plain_keys = "".join(environ).isascii()
    except TypeError:
        plain_keys = False
    if (
        raw.__class__ is not str
        or not plain_keys
        or not environ.keys().isdisjoint(_OTHER_COOKIE_KEYS)
    ):
        return request.cookies.get(name)
    if name not in raw:
        return None
    if raw.startswith(name) and raw[len(name) : len(name) + 1] == "=":
        # The header starts with this cookie: its value runs to the first
        # ";" when it holds no space, tab or quote (what the grammar reads
        # for a key without those characters either).
        value = raw[len(name) + 1 :].partition(";")[0]
        if not _COOKIE_SPECIAL.search(value) and not _COOKIE_SPECIAL.search(name):
            return value
    match = _COOKIE_PAIR.match
    pos = 0
    while True:
        m = match(raw, pos)
        if m is None:
            # Werkzeug skips what it cannot read up to the next ";".
            pos = raw.find(";", pos) + 1
            if pos == 0:
                return None
            continue
        pos = m.end()
        if m.group(1) == name:
            value = m.group(2)
            if value is None:
                return ""
            if value.startswith('"') and value.endswith('"'):
                return request.cookies.get(name)  # backslash escapes
            return value


def _add_vary_cookie(response: Response) -> None:
    """``response.vary.add("Cookie")``; without parsing a header set when the
    response has no ``Vary`` header yet."""
    headers = response.headers
    if headers.__class__ is Headers and _PLAIN_HEADERS and _plain_vary(type(response)):
        header_list = headers._list
        for key, value in header_list:
            if key.lower() == "vary":
                if value == "Cookie":
                    return  # already in the set: HeaderSet.add changes nothing
                break
        else:
            # What HeaderSet.add's update callback does for a new header:
            # headers["Vary"] = "Cookie", which appends when there is none.
            header_list.append(("Vary", "Cookie"))
            return
    response.vary.add("Cookie")


_plain_vary_classes: dict[type, bool] = {}


def _plain_vary(cls: type) -> bool:
    plain = _plain_vary_classes.get(cls)
    if plain is None:
        plain = _plain_vary_classes[cls] = (
            getattr(cls, "vary", None) is _SansIOResponse.vary
            and getattr(cls, "set_cookie", None) is _SansIOResponse.set_cookie
            and getattr(cls, "delete_cookie", None) is _SansIOResponse.delete_cookie
        )
    return plain


_COOKIE_PATH_SAFE = "%!$&'()*+,/:=@"
_SAMESITE = {"Strict", "Lax", "None"}
_cookie_templates: dict[tuple[str, t.Any], tuple[str, str, str]] = {}


#: ``(domain, path, secure, httponly, samesite, partitioned)`` of a cookie.
_CookieAttrs = tuple[str | None, str | None, bool, bool, str | None, bool]


def _cookie_attr(key: str, value: t.Any) -> str:
    # dump_cookie's rule: None and False are left out, True is the bare
    # name, anything else (even "" or 0) is key=value.
    if value is None or value is False:
        return ""
    if value is True:
        return f"; {key}"
    return f"; {key}={value}"


def _cookie_template(name: str, attrs: _CookieAttrs) -> tuple[str, str, str]:
    """The parts of Werkzeug's ``dump_cookie`` output around the value and
    ``Expires``: ``name=``, the ``Domain`` attribute, and the attributes
    after ``Expires``. Depends only on the session config, so it is built
    once per config."""
    cache_key = (name, attrs)
    template = _cookie_templates.get(cache_key)
    if template is not None:
        return template
    domain, path, secure, httponly, samesite, partitioned = attrs
    if path is not None:
        path = quote(path, safe=_COOKIE_PATH_SAFE)
    if domain:
        domain = domain.partition(":")[0].lstrip(".").encode("idna").decode("ascii")
    if samesite is not None:
        samesite = samesite.title()
        if samesite not in _SAMESITE:
            raise ValueError("SameSite must be 'Strict', 'Lax', or 'None'.")
    if partitioned:
        secure = True
    head = f"{name.encode().decode('latin1')}="
    mid = _cookie_attr("Domain", domain)
    tail = "".join(
        [
            _cookie_attr("Secure", secure),
            _cookie_attr("HttpOnly", httponly),
            _cookie_attr("Path", path),
            _cookie_attr("SameSite", samesite),
            _cookie_attr("Partitioned", partitioned),
        ]
    )
    if len(_cookie_templates) > 64:
        _cookie_templates.clear()
    template = _cookie_templates[cache_key] = (head, mid, tail)
    return template


def _set_session_cookie(
    response: Response,
    name: str,
    value: t.Any,
    expires: datetime | None,
    attrs: _CookieAttrs,
    templated: bool,
) -> None:
    """``response.set_cookie(...)``. With ``templated``, for a value signed by
    :class:`_SessionCodec` (URL-safe base64 and dots, which Werkzeug never
    quotes), the same header is built from a per-config template; an
    oversized cookie still goes through ``set_cookie`` so that Werkzeug warns
    about it in its own words."""
    domain, path, secure, httponly, samesite, partitioned = attrs
    if (
        templated
        and _COOKIES_AS_WERKZEUG
        # Exact types, so that equal keys (True and 1) mean equal cookies.
        and secure.__class__ is bool
        and httponly.__class__ is bool
        and partitioned.__class__ is bool
        and (domain is None or domain.__class__ is str)
        and (path is None or path.__class__ is str)
        and (samesite is None or samesite.__class__ is str)
        and _plain_vary(type(response))
    ):
        head, mid, tail = _cookie_template(name, attrs)
        if expires is None:
            header = f"{head}{value}{mid}{tail}"
        else:
            header = f"{head}{value}{mid}; Expires={http_date(expires)}{tail}"
        max_size = response.max_cookie_size
        if not max_size or len(header) <= max_size:
            response.headers.add("Set-Cookie", header)
            return
    response.set_cookie(
        name,
        value,
        expires=expires,
        httponly=httponly,
        domain=domain,
        path=path,
        secure=secure,
        partitioned=partitioned,
        samesite=samesite,
    )


def _templates_match_werkzeug() -> bool:
    """Whether the installed Werkzeug's ``dump_cookie`` lays out cookies as
    :func:`_cookie_template` does (checked once, at import)."""
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    probes: list[tuple[t.Any, ...]] = [
        ("session", None, "/", False, True, None, False),
        ("s\u00e9", ".Example.com:8", "/a b;c", True, False, "lax", True),
    ]
    for args in probes:
        head, mid, tail = _cookie_template(args[0], args[1:])
        _cookie_templates.clear()
        name, domain, path, secure, httponly, samesite, partitioned = args
        for expires in (None, when):
            ours = f"{head}a.b-_c{mid}"
            if expires is not None:
                ours += f"; Expires={http_date(expires)}"
            theirs = dump_cookie(
                name,
                "a.b-_c",
                expires=expires,
                path=path,
                domain=domain,
                secure=secure,
                httponly=httponly,
                samesite=samesite,
                partitioned=partitioned,
            )
            if ours + tail != theirs:
                return False
    return True


_COOKIES_AS_WERKZEUG = _templates_match_werkzeug()


class SecureCookieSessionInterface(SessionInterface):
    """The default interface: the whole session lives in a cookie signed
    with the app's ``secret_key`` (itsdangerous), in Flask's format."""

    #: Salt mixed into the secret key for session signatures.
    salt = "cookie-session"
    #: Hash function of the HMAC signature.
    digest_method = staticmethod(_sha1)
    #: itsdangerous key derivation.
    key_derivation = "hmac"
    #: Payload serializer: compact tagged JSON (tuples, bytes, Markup, UUID,
    #: datetime survive the round trip).
    serializer = session_json_serializer
    session_class = SecureCookieSession

    def get_signing_serializer(self, app: Erlen) -> URLSafeTimedSerializer | None:
        """The itsdangerous serializer for ``app``, or ``None`` without a
        secret key. It signs with ``secret_key`` and also accepts signatures
        made with any key in ``SECRET_KEY_FALLBACKS``."""
        state = self._signer_state(app)
        return None if state is None else state[0]

    def _signer_state(
        self, app: Erlen
    ) -> tuple[URLSafeTimedSerializer, _SessionCodec | None] | None:
        secret_key = app.secret_key
        if not secret_key:
            return None
        keys: list[t.Any] = list(app.config["SECRET_KEY_FALLBACKS"] or ())
        keys.append(secret_key)  # itsdangerous signs with the last key
        # Building a serializer costs more than signing a small session, so
        # the last one is reused while nothing it depends on changed.
        cache_key = (
            tuple(keys),
            self.salt,
            self.serializer,
            self.key_derivation,
            self.digest_method,
        )
        cached = self.__dict__.get("_signer_cache")
        if cached is not None and cached[0] == cache_key:
            return cached[1]  # type: ignore[no-any-return]
        signer = URLSafeTimedSerializer(
            keys,
            salt=self.salt,
            serializer=self.serializer,
            signer=_KeyCachingSigner,
            signer_kwargs={
                "key_derivation": self.key_derivation,
                # hashlib's own constructor lets hmac take its C path; the
                # signature is the same SHA-1 either way.
                "digest_method": (
                    hashlib.sha1 if self.digest_method is _sha1 else self.digest_method
                ),
            },
        )
        # A serializer of bytes gives bytes cookies, which Werkzeug rejects in
        # its own way; only text serializers get the codec.
        codec = _SessionCodec(signer) if signer.is_text_serializer else None
        state = (signer, codec)
        self._signer_cache = (cache_key, state)
        return state

    def _codec(
        self, app: Erlen
    ) -> tuple[URLSafeTimedSerializer | None, _SessionCodec | None]:
        # A subclass that builds its own serializer is used as it is.
        if type(self).get_signing_serializer is not _STOCK_GET_SIGNER:
            return self.get_signing_serializer(app), None
        state = self._signer_state(app)
        if state is None:
            return None, None
        return state

    def open_session(self, app: Erlen, request: Request) -> SecureCookieSession | None:
        """Read the session cookie. A missing, tampered or expired cookie
        gives a new empty session; no secret key gives ``None``."""
        signer, codec = self._codec(app)
        if signer is None:
            return None
        value = _session_cookie(request, self.get_cookie_name(app))
        if not value:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        if codec is not None:
            data = codec.loads(value, max_age)
            if data is _INVALID:
                return self.session_class()
            return self.session_class(data)
        try:
            data = signer.loads(value, max_age=max_age)
        except BadData:
            return self.session_class()
        return self.session_class(data)

    def save_session(
        self, app: Erlen, session: SessionMixin, response: Response
    ) -> None:
        """Write, refresh or delete the session cookie on ``response``."""
        name = self.get_cookie_name(app)
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        secure = self.get_cookie_secure(app)
        partitioned = self.get_cookie_partitioned(app)
        samesite = self.get_cookie_samesite(app)
        httponly = self.get_cookie_httponly(app)

        # Caches must not share a response that depends on the session.
        if session.accessed:
            _add_vary_cookie(response)

        if not session:
            # Emptied during this request: remove the browser's cookie. Never
            # had data: there is nothing to write.
            if session.modified:
                response.delete_cookie(
                    name,
                    domain=domain,
                    path=path,
                    secure=secure,
                    partitioned=partitioned,
                    samesite=samesite,
                    httponly=httponly,
                )
                _add_vary_cookie(response)
            return

        if not self.should_set_cookie(app, session):
            return

        expires = self.get_expiration_time(app, session)
        signer, codec = self._codec(app)
        if signer is None:
            return
        _set_session_cookie(
            response,
            name,
            signer.dumps(dict(session))
            if codec is None
            else codec.dumps(dict(session)),
            expires,
            (domain, path, secure, httponly, samesite, partitioned),
            templated=codec is not None,
        )
        _add_vary_cookie(response)


_STOCK_GET_SIGNER = SecureCookieSessionInterface.get_signing_serializer
