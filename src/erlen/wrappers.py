"""Request and response objects: Werkzeug's, with the application's config applied."""

from __future__ import annotations

import typing as t
from http import HTTPStatus
from io import BytesIO
from types import GeneratorType
from urllib.parse import parse_qsl

import werkzeug.urls  # noqa: F401  (registers the "werkzeug.url_quote" error handler)
from werkzeug._internal import _wsgi_decoding_dance
from werkzeug.datastructures import EnvironHeaders, Headers, MultiDict
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.sansio.request import Request as _SansIORequest
from werkzeug.sansio.response import Response as _SansIOResponse
from werkzeug.utils import cached_property
from werkzeug.wrappers import Request as _WerkzeugRequest
from werkzeug.wrappers import Response as _WerkzeugResponse
from werkzeug.wsgi import LimitedStream, _get_server, get_content_length

from . import formparser, json
from .globals import _cv_app

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from werkzeug.routing import Rule


class _ConfigLimit:
    """A request limit: the value set on the request, else the current app's
    config value, else Werkzeug's default outside an app context."""

    def __init__(self, config_key: str) -> None:
        self.config_key = config_key

    def __set_name__(self, owner: type, name: str) -> None:
        self.attr = f"_{name}"
        self.default = getattr(_WerkzeugRequest, name)

    def __get__(self, obj: object, owner: type | None = None) -> t.Any:
        if obj is None:
            return self
        value = obj.__dict__.get(self.attr)
        if value is not None:
            return value
        app_ctx = _cv_app.get(None)
        if app_ctx is None:
            return self.default
        return app_ctx.app.config[self.config_key]

    def __set__(self, obj: object, value: int | None) -> None:
        obj.__dict__[self.attr] = value


class Request(_WerkzeugRequest):
    """The request object used by default in erlen.

    Remembers the matched endpoint and view arguments, and reads its limits
    (``MAX_CONTENT_LENGTH``, ``MAX_FORM_MEMORY_SIZE``, ``MAX_FORM_PARTS``) from
    the current application's config unless they were set on the object.
    """

    json_module: t.Any = json

    #: The rule that matched the request, or ``None`` if matching failed.
    url_rule: Rule | None = None
    #: The arguments that matched the rule, or ``None`` if matching failed.
    view_args: dict[str, t.Any] | None = None
    #: The routing exception if matching failed (404, 405, redirect).
    routing_exception: HTTPException | None = None

    #: ``MAX_CONTENT_LENGTH`` of the current app unless set on this request.
    max_content_length = _ConfigLimit("MAX_CONTENT_LENGTH")
    #: ``MAX_FORM_MEMORY_SIZE`` of the current app unless set on this request.
    max_form_memory_size = _ConfigLimit("MAX_FORM_MEMORY_SIZE")
    #: ``MAX_FORM_PARTS`` of the current app unless set on this request.
    max_form_parts = _ConfigLimit("MAX_FORM_PARTS")

    def __init__(
        self,
        environ: WSGIEnvironment,
        populate_request: bool = True,
        shallow: bool = False,
    ) -> None:
        cls = self.__class__
        fast = _fast_init_classes.get(cls)
        if fast is None:
            fast = _fast_init_classes[cls] = _init_is_stock(cls)
        if not fast:
            super().__init__(environ, populate_request, shallow)
            return
        # PERF: Werkzeug's __init__ without its keyword call and helpers;
        # the same attributes (checked against Werkzeug's at import).
        _set_attributes(self, environ, shallow)
        if populate_request and not shallow:
            environ["werkzeug.request"] = self

    @cached_property
    def args(self) -> MultiDict[str, str]:
        """The parsed query string, as Werkzeug parses it. Bytes that are not
        UTF-8 (a client may send them raw, not percent-encoded) stay
        percent-encoded, as Werkzeug leaves invalid percent-escapes, instead
        of raising ``UnicodeDecodeError`` (a 500 in Flask)."""
        return self.parameter_storage_class(
            parse_qsl(
                self._query_text(), keep_blank_values=True, errors="werkzeug.url_quote"
            )
        )

    @property
    def full_path(self) -> str:
        """The path and the query string (raw non-UTF-8 bytes in it
        percent-encoded, as in :attr:`args`)."""
        return f"{self.path}?{self._query_text()}"

    def _query_text(self) -> str:
        query = self.query_string
        try:
            return query.decode()
        except UnicodeDecodeError:
            return query.decode(errors="werkzeug.url_quote")

    @cached_property
    def stream(self) -> t.IO[bytes]:
        """The input stream, limited like Werkzeug's; in addition a body of
        unknown length (chunked, ``wsgi.input_terminated``) longer than
        ``max_content_length`` is a 413 instead of being cut at the limit."""
        limit = self.max_content_length
        environ = self.environ
        if (
            limit is not None
            and not self.shallow
            and "wsgi.input_terminated" in environ
            and get_content_length(environ) is None
        ):
            data = environ["wsgi.input"].read(limit + 1)
            if len(data) > limit:
                raise RequestEntityTooLarge()
            return BytesIO(data)
        return super().stream

    @property
    def endpoint(self) -> str | None:
        """The endpoint of the matched rule, or ``None``."""
        if self.url_rule is not None:
            return t.cast(str, self.url_rule.endpoint)
        return None

    @property
    def blueprint(self) -> str | None:
        """The registered name of the blueprint that handled the request.

        Nested blueprints give a dotted name such as ``"parent.child"``.
        """
        endpoint = self.endpoint
        if endpoint is not None and "." in endpoint:
            return endpoint.rpartition(".")[0]
        return None

    @property
    def blueprints(self) -> list[str]:
        """The current blueprint and its parents, innermost first."""
        name = self.blueprint
        if name is None:
            return []
        return _split_blueprint_path(name)

    def _load_form_data(self) -> None:
        if not self._load_urlencoded():
            super()._load_form_data()
        # In debug mode, accessing a missing file explains the enctype mistake.
        app_ctx = _cv_app.get(None)
        if (
            app_ctx is not None
            and app_ctx.app.debug
            and self.mimetype != "multipart/form-data"
            and not self.files
        ):
            from .debughelpers import attach_enctype_error_multidict

            attach_enctype_error_multidict(self)

    def _load_urlencoded(self) -> bool:
        """Parse an urlencoded body exactly as Werkzeug's form parser would,
        without its parser object, content-type parsing and stream layers.

        Only taken when the result is certain to be Werkzeug's: a known
        urlencoded content type, a plain decimal ``Content-Length``, no
        chunked transfer, a stream nobody has read, and none of the steps
        changed by a subclass. The limits act as in Werkzeug:
        ``max_content_length`` (413 before reading) and, where this Werkzeug
        applies it to urlencoded bodies, ``max_form_memory_size``. Returns
        ``False`` (nothing done) to let Werkzeug handle the request.
        """
        d = self.__dict__
        environ = self.environ
        ctype = environ.get("CONTENT_TYPE")
        length = environ.get("CONTENT_LENGTH")
        if (
            ctype.__class__ is not str
            or length.__class__ is not str
            or ctype.lower() not in formparser.URLENCODED_TYPES
            or not (length.isascii() and length.isdigit())
            or "form" in d
            or "stream" in d
            or d.get("_cached_data") is not None
            or "HTTP_TRANSFER_ENCODING" in environ
            or self.shallow
            or not _plain_form(self.__class__)
        ):
            return False
        content_length = int(length)
        limit = self.max_content_length
        if limit is not None and content_length > limit:
            raise RequestEntityTooLarge()
        raw = environ["wsgi.input"]
        terminated = "wsgi.input_terminated" in environ
        if terminated:
            if limit is not None:
                return False  # Werkzeug's maximum-limited stream
            stream: t.IO[bytes] = raw
        else:
            stream = LimitedStream(raw, content_length)  # type: ignore[assignment]
        d["stream"] = stream
        if formparser.MEMORY_LIMIT_APPLIES:
            memory = self.max_form_memory_size
            if memory is not None and content_length > memory:
                raise RequestEntityTooLarge()
        if terminated or not formparser.LIMITED_STREAM_POSITION:
            body = stream.read()
        else:
            body = formparser.read_limited(stream, raw, content_length)  # type: ignore[arg-type]
        items = formparser.parse_urlencoded(body)
        storage = self.parameter_storage_class
        d["form"] = storage() if items is None else storage(items)
        d["files"] = storage()
        return True

    def get_json(
        self, force: bool = False, silent: bool = False, cache: bool = True
    ) -> t.Any:
        """Parse the body as JSON, as Werkzeug does: ``415`` for another
        content type, ``400`` for invalid JSON, ``None`` if ``silent``.

        JSON nested too deeply for the parser is invalid JSON here too (``400``),
        not a ``RecursionError``.
        """
        try:
            return super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:
            if silent:
                return None
            return self.on_json_loading_failed(
                ValueError("The JSON document is nested too deeply.")
            )

    def on_json_loading_failed(self, e: ValueError | None) -> t.Any:
        try:
            return super().on_json_loading_failed(e)
        except BadRequest as ebr:
            app_ctx = _cv_app.get(None)
            if app_ctx is not None and app_ctx.app.debug:
                raise
            raise BadRequest() from ebr


class Response(_WerkzeugResponse):
    """The response object used by default in erlen: HTML by default.

    Calling it as a WSGI application sends exactly what Werkzeug's ``Response``
    sends; a plain buffered body is written without the generic header
    rewriting pass when none of it applies.
    """

    default_mimetype: str | None = "text/html"
    json_module = json
    autocorrect_location_header = False

    def __init__(
        self,
        response: t.Iterable[bytes] | bytes | t.Iterable[str] | str | None = None,
        status: int | str | HTTPStatus | None = None,
        headers: t.Mapping[str, str | t.Iterable[str]]
        | t.Iterable[tuple[str, str]]
        | None = None,
        mimetype: str | None = None,
        content_type: str | None = None,
        direct_passthrough: bool = False,
    ) -> None:
        # A str or bytes body and nothing else (what make_response builds for
        # a view returning a string): the state Werkzeug's __init__ leaves,
        # set directly. Anything else, or a class that changes any step,
        # takes Werkzeug's way.
        body_class = response.__class__
        if (
            (body_class is str or body_class is bytes)
            and status is None
            and headers is None
            and mimetype is None
            and content_type is None
            and direct_passthrough is False
        ):
            cls = self.__class__
            plan = _init_plans.get(cls)
            if plan is None or plan.key != (
                cls.default_mimetype,
                cls.default_status,
                cls.automatically_set_content_length,
            ):
                plan = _init_plan(cls)
            if plan.usable:
                body: bytes = response.encode() if body_class is str else response  # type: ignore[union-attr,assignment]
                header_list = plan.headers.copy()
                if plan.length:
                    header_list.append(("Content-Length", str(len(body))))
                new_headers = _new_headers()
                new_headers._list = header_list
                self.headers = new_headers
                self._status = plan.status
                self._status_code = plan.status_code
                self.direct_passthrough = False
                self._on_close = []
                self.response = [body]
                return
        super().__init__(
            response, status, headers, mimetype, content_type, direct_passthrough
        )

    def _has_location(self) -> bool:
        for key, _ in self.headers.items():
            lower = key.lower()
            if lower == "location" or lower == "content-location":
                return True
        return False

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> t.Iterable[bytes]:
        body = self.response
        status = self.status_code
        if (
            body.__class__ is GeneratorType
            and not self.direct_passthrough
            and not self._on_close
            and 200 <= status < 600
            and status != 204
            and status != 304
            and _plain_wsgi(self.__class__)
            and not self._has_location()
        ):
            # Streamed: no length; str chunks encoded as Werkzeug would.
            start_response(self.status, self.headers.to_wsgi_list())
            if environ["REQUEST_METHOD"] == "HEAD":
                self.close()
                return []
            return _EncodedStream(body)
        if (
            body.__class__ is list
            and not self.direct_passthrough
            and not self._on_close
            and 200 <= status < 600
            and status != 204
            and status != 304
            and _plain_wsgi(self.__class__)
        ):
            headers = self.headers.to_wsgi_list()
            has_length = False
            for key, _ in headers:
                lower = key.lower()
                if lower == "content-length":
                    has_length = True
                elif lower == "location" or lower == "content-location":
                    # Werkzeug IRI-encodes these; let it.
                    return super().__call__(environ, start_response)
            for chunk in body:
                if chunk.__class__ is not bytes:
                    return super().__call__(environ, start_response)
            if not has_length and self.automatically_set_content_length:
                headers.append(("Content-Length", str(sum(map(len, body)))))
            start_response(self.status, headers)
            if environ["REQUEST_METHOD"] == "HEAD":
                return []
            return body
        return super().__call__(environ, start_response)

    @property
    def max_cookie_size(self) -> int:  # type: ignore[override]
        """``MAX_COOKIE_SIZE`` of the current app, else Werkzeug's default."""
        app_ctx = _cv_app.get(None)
        if app_ctx is not None:
            return app_ctx.app.config["MAX_COOKIE_SIZE"]  # type: ignore[no-any-return]
        return super().max_cookie_size


class _EncodedStream:
    """The body of a streamed response: ``str`` chunks encoded as UTF-8, and
    the generator closed when the server closes the body."""

    __slots__ = ("gen",)

    def __init__(self, gen: t.Generator[t.Any, t.Any, t.Any]) -> None:
        self.gen = gen

    def __iter__(self) -> t.Iterator[bytes]:
        for chunk in self.gen:
            # isinstance, as Werkzeug: Markup and other str subclasses too.
            yield chunk.encode() if isinstance(chunk, str) else chunk

    def close(self) -> None:
        self.gen.close()


class _InitPlan:
    """What Werkzeug's ``Response.__init__`` makes of a plain body for one
    class: the headers before ``Content-Length``, whether that is set, and
    the default status."""

    __slots__ = ("headers", "key", "length", "status", "status_code", "usable")

    def __init__(
        self,
        key: tuple[t.Any, ...],
        headers: list[tuple[str, str]],
        length: bool,
        status: str,
        code: int,
    ) -> None:
        #: The class attributes the plan was made from; a change (such as
        #: ``Response.default_mimetype = "text/plain"``) makes a new plan.
        self.key = key
        self.headers = headers
        self.length = length
        self.status = status
        self.status_code = code
        #: False: Werkzeug's ``__init__`` runs for this class.
        self.usable = bool(status)


_init_plans: dict[type, _InitPlan] = {}


def _plain_headers() -> bool:
    # Headers() holds nothing but its list (true of every Werkzeug 3.x).
    return vars(Headers()) == {"_list": []}


_PLAIN_HEADERS = _plain_headers()


def _new_headers() -> Headers:
    return Headers.__new__(Headers)


def _init_plan(cls: type[Response]) -> _InitPlan:
    """The :class:`_InitPlan` of ``cls``, not usable when a step of
    Werkzeug's ``__init__`` is changed by the class (then it runs itself).
    The plan is derived from a real instance made by Werkzeug's code."""
    key = (
        cls.default_mimetype,
        cls.default_status,
        cls.automatically_set_content_length,
    )
    plan = _InitPlan(key, [], False, "", 0)  # not usable
    stock = all(
        getattr(cls, name) is getattr(_WerkzeugResponse, name)
        for name in ("set_data", "status", "status_code", "_clean_status")
    ) and all(
        # Nothing between this class and Werkzeug's Response initialises.
        "__init__" not in klass.__dict__
        for klass in cls.__mro__[cls.__mro__.index(Response) + 1 :]
        if klass not in (_WerkzeugResponse, _SansIOResponse, object)
    )
    if stock and _PLAIN_HEADERS and Response in cls.__mro__:
        try:
            probe = cls.__new__(cls)
            _WerkzeugResponse.__init__(probe, "")
        except Exception:
            _init_plans[cls] = plan
            return plan
        header_list = probe.headers.to_wsgi_list()
        length = ("Content-Length", "0") in header_list
        if length and header_list[-1] == ("Content-Length", "0"):
            header_list.pop()
        if (
            header_list.count(("Content-Length", "0")) == 0
            and set(vars(probe))
            == {
                "headers",
                "_status",
                "_status_code",
                "direct_passthrough",
                "_on_close",
                "response",
            }
            and type(probe.headers) is Headers
        ):
            plan = _InitPlan(
                key, header_list, length, probe._status, probe._status_code
            )
    _init_plans[cls] = plan
    return plan


_plain_classes: dict[type, bool] = {}


def _plain_wsgi(cls: type) -> bool:
    """Whether ``cls`` keeps Werkzeug's own WSGI output methods, so that the
    shortcut in :meth:`Response.__call__` sends the same bytes."""
    plain = _plain_classes.get(cls)
    if plain is None:
        plain = _plain_classes[cls] = all(
            getattr(cls, name) is getattr(_WerkzeugResponse, name)
            for name in (
                "get_wsgi_response",
                "get_wsgi_headers",
                "get_app_iter",
                "iter_encoded",
                "close",
            )
        )
    return plain


_plain_form_classes: dict[type, bool] = {}

# What Werkzeug's form loading goes through; a request class that changes
# any of them parses its own way.
_FORM_STEPS = (
    "want_form_data_parsed",
    "make_form_data_parser",
    "form_data_parser_class",
    "_get_stream_for_parsing",
    "stream",
    "mimetype",
    "mimetype_params",
    "content_length",
    "max_content_length",
    "max_form_memory_size",
    "_load_urlencoded",
)


#: Request classes -> whether :meth:`Request.__init__` may set Werkzeug's
#: attributes itself: nothing between it and Werkzeug's ``__init__``.
_fast_init_classes: dict[type, bool] = {}
_STOCK_INITS = (_WerkzeugRequest.__init__, _SansIORequest.__init__)


def _init_is_stock(cls: type) -> bool:
    mro = cls.__mro__
    i = mro.index(Request)
    return (
        _FAST_INIT
        and mro[i + 1 : i + 3] == (_WerkzeugRequest, _SansIORequest)
        and _WerkzeugRequest.__init__ is _STOCK_INITS[0]
        and _SansIORequest.__init__ is _STOCK_INITS[1]
    )


def _set_attributes(req: t.Any, environ: WSGIEnvironment, shallow: bool) -> None:
    """The attributes Werkzeug's ``Request.__init__`` sets, set directly."""
    get = environ.get
    root = get("SCRIPT_NAME") or ""
    if not root.isascii():
        root = _wsgi_decoding_dance(root)
    path = get("PATH_INFO") or ""
    if not path.isascii():
        path = _wsgi_decoding_dance(path)
    req.method = get("REQUEST_METHOD", "GET").upper()
    req.scheme = get("wsgi.url_scheme", "http")
    req.server = _get_server(environ)
    req.root_path = root.rstrip("/")
    req.path = "/" + path.lstrip("/")
    req.query_string = get("QUERY_STRING", "").encode("latin1")
    req.headers = EnvironHeaders(environ)
    req.remote_addr = get("REMOTE_ADDR")
    req.environ = environ
    req.shallow = shallow


def _fast_init_agrees() -> bool:
    """Whether :func:`_set_attributes` sets exactly what this Werkzeug's
    ``Request.__init__`` sets, on environs taking each branch."""

    class Bare:
        pass

    environs: list[dict[str, t.Any]] = [
        {
            "REQUEST_METHOD": "post",
            "SCRIPT_NAME": "/app/",
            "PATH_INFO": "//a/b/",
            "QUERY_STRING": "x=1&y",
            "SERVER_NAME": "example.com",
            "SERVER_PORT": "8080",
            "wsgi.url_scheme": "https",
            "REMOTE_ADDR": "10.0.0.1",
            "HTTP_HOST": "example.com",
        },
        {
            "SCRIPT_NAME": "/\xe2\x82\xac",
            "PATH_INFO": "/caf\xc3\xa9/\xff",
            "SERVER_NAME": "h",
            "SERVER_PORT": "no port",
        },
        {},
    ]
    for environ in environs:
        for shallow in (False, True):
            stock = vars(_WerkzeugRequest(dict(environ), False, shallow))
            bare = Bare()
            _set_attributes(bare, dict(environ), shallow)
            fast = vars(bare)
            if stock.keys() != fast.keys():
                return False
            for name, value in stock.items():
                other = fast[name]
                if name == "headers":
                    if type(other) is not type(value) or list(other) != list(value):
                        return False
                elif type(other) is not type(value) or other != value:
                    return False
    return True


def _plain_form(cls: type) -> bool:
    """Whether ``cls`` loads forms with erlen's and Werkzeug's own steps, so
    that :meth:`Request._load_urlencoded` gives the same result."""
    plain = _plain_form_classes.get(cls)
    if plain is None:
        parser = getattr(cls, "form_data_parser_class", None)
        plain = _plain_form_classes[cls] = (
            formparser.ENABLED
            and all(
                getattr(cls, name) is getattr(Request, name) for name in _FORM_STEPS
            )
            and parser is FormDataParser
            and FormDataParser.parse is formparser.STOCK_PARSE
            and FormDataParser._parse_urlencoded is formparser.STOCK_PARSE_URLENCODED
        )
    return plain


def _split_blueprint_path(name: str) -> list[str]:
    """``"a.b.c"`` → ``["a.b.c", "a.b", "a"]``."""
    out = [name]
    while "." in name:
        name = name.rpartition(".")[0]
        out.append(name)
    return out


_FAST_INIT = _fast_init_agrees()
