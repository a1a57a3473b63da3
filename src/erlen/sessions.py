"""Sessions: the session object, the pluggable :class:`SessionInterface`, and
the default interface that keeps the session in a signed cookie.

The cookie format is Flask's (itsdangerous ``URLSafeTimedSerializer``, salt
``"cookie-session"``, HMAC-SHA1, tagged JSON payload), so a cookie written by
a Flask application is read by erlen and the other way round.
"""

from __future__ import annotations

import collections.abc as cabc
import hashlib
import typing as t
from datetime import datetime, timezone

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer
from werkzeug.datastructures import CallbackDict

from .json.tag import TaggedJSONSerializer

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
        self._signer_cache = (cache_key, signer)
        return signer

    def open_session(self, app: Erlen, request: Request) -> SecureCookieSession | None:
        """Read the session cookie. A missing, tampered or expired cookie
        gives a new empty session; no secret key gives ``None``."""
        signer = self.get_signing_serializer(app)
        if signer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
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
            response.vary.add("Cookie")

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
                response.vary.add("Cookie")
            return

        if not self.should_set_cookie(app, session):
            return

        signer = self.get_signing_serializer(app)
        if signer is None:
            return
        response.set_cookie(
            name,
            signer.dumps(dict(session)),
            expires=self.get_expiration_time(app, session),
            httponly=httponly,
            domain=domain,
            path=path,
            secure=secure,
            partitioned=partitioned,
            samesite=samesite,
        )
        response.vary.add("Cookie")
