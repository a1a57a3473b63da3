"""The urlencoded form body, parsed without Werkzeug's general form machinery.

:meth:`erlen.wrappers.Request._load_form_data` uses :func:`parse_urlencoded`
only where the outcome is certain to be Werkzeug's (see there); this module
holds the parsing itself and the checks, made once at import against the
installed Werkzeug, that decide whether the fast path may be used at all.
"""

from __future__ import annotations

import io
import typing as t
from urllib.parse import unquote, unquote_to_bytes

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header
from werkzeug.wsgi import LimitedStream

__all__ = ["URLENCODED_TYPES", "parse_urlencoded", "read_limited"]

#: ``Content-Type`` values (lower-cased) taken by the fast path: the
#: urlencoded type alone or with a UTF-8 charset, which Werkzeug decodes as
#: UTF-8 anyway. Anything else goes through Werkzeug.
URLENCODED_TYPES = frozenset(
    {
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "application/x-www-form-urlencoded;charset=utf-8",
        'application/x-www-form-urlencoded; charset="utf-8"',
    }
)

# The codec error handler Werkzeug registers (werkzeug.urls): bytes that are
# not UTF-8 after percent-decoding are quoted back as %XX.
_ERRORS = "werkzeug.url_quote"


def parse_urlencoded(body: bytes) -> list[tuple[str, str]] | None:
    """The ``(name, value)`` pairs of an urlencoded body, as Werkzeug reads
    them (``parse_qsl`` with blank values kept and undecodable percent
    escapes quoted back), or ``None`` when the body itself is not UTF-8 (for
    which Werkzeug gives an empty form)."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return None
    items = []
    for part in text.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        # unquote returns a string without "%" unchanged.
        if "+" in name:
            name = name.replace("+", " ")
        if "%" in name:
            name = _unquote(name)
        if "+" in value:
            value = value.replace("+", " ")
        if "%" in value:
            value = _unquote(value)
        items.append((name, value))
    return items


def _unquote(text: str) -> str:
    # For ASCII text, unquote is this one call (it unquotes each ASCII run
    # to bytes and decodes it; here there is one run), without its regex.
    if text.isascii():
        return unquote_to_bytes(text).decode("utf-8", _ERRORS)
    return unquote(text, errors=_ERRORS)


def read_limited(stream: LimitedStream, raw: t.IO[bytes], length: int) -> bytes:
    """``stream.read()`` for a fresh ``LimitedStream(raw, length)``: the same
    bytes, the same :exc:`ClientDisconnected` when the body ends early or the
    read fails, and the stream left where Werkzeug's read leaves it (its
    position, exhausted), without its per-chunk buffer copies."""
    chunks = []
    pos = 0
    try:
        while pos < length:
            try:
                data = raw.read(min(_CHUNK, length - pos))
            except (OSError, ValueError):
                raise ClientDisconnected() from None
            if not data:
                raise ClientDisconnected()
            pos += len(data)
            chunks.append(data)
    finally:
        stream._pos = pos
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


_CHUNK = 64 * 1024  # LimitedStream.readall's read size


def _limited_stream_position() -> bool:
    """Whether ``LimitedStream`` keeps its position in ``_pos`` as
    :func:`read_limited` assumes (checked once, at import)."""
    try:
        theirs = LimitedStream(io.BytesIO(b"abc"), 3)
        theirs.read()
        raw = io.BytesIO(b"abc")
        ours = LimitedStream(raw, 3)
        data = read_limited(ours, raw, 3)
        short = LimitedStream(io.BytesIO(b"ab"), 3)
        try:
            read_limited(short, io.BytesIO(b"ab"), 3)
        except ClientDisconnected:
            pass
        else:
            return False
        return (
            vars(theirs) == vars(ours) | {"_stream": theirs._stream}
            and data == b"abc"
            and ours.read() == b""
            and ours.tell() == 3
        )
    except Exception:
        return False


def _werkzeug_parse(
    body: bytes, parser: FormDataParser | None = None
) -> list[tuple[str, str]]:
    parser = parser or FormDataParser()
    _, form, _ = parser.parse(
        io.BytesIO(body), "application/x-www-form-urlencoded", len(body), {}
    )
    return list(form.items(multi=True))


def _memory_limit_applies() -> bool:
    """Whether this Werkzeug answers an urlencoded body longer than
    ``max_form_memory_size`` with 413 (3.1 before 3.1.8 does; later ones
    leave that to ``max_content_length``)."""
    try:
        _werkzeug_parse(b"a=bcd", FormDataParser(max_form_memory_size=2))
    except RequestEntityTooLarge:
        return True
    return False


_PROBES: tuple[bytes, ...] = (
    b"",
    b"a=1&b=2&a=3",
    b"&&a&=&=x&b=",
    b"a+b=c+d%2B%20&%zz=%4&%e2%82%ac=%ff%fe",
    b"k;=v;w&x=y=z",
    b"\xff=1",
    "\u00e9=\u2603".encode(),
)


def _agrees_with_werkzeug() -> bool:
    """Whether :func:`parse_urlencoded` and the content types match the
    installed Werkzeug on a few tricky bodies (checked once, at import)."""
    for body in _PROBES:
        ours = list(MultiDict(parse_urlencoded(body) or ()).items(multi=True))
        if ours != _werkzeug_parse(body):
            return False
    return all(
        parse_options_header(ctype)[0].lower() == "application/x-www-form-urlencoded"
        for ctype in URLENCODED_TYPES
    )


#: Whether :func:`parse_urlencoded` may stand in for Werkzeug here.
ENABLED: bool = _agrees_with_werkzeug()
#: Whether a body over ``max_form_memory_size`` is a 413 (Werkzeug-version
#: dependent, see :func:`_memory_limit_applies`).
MEMORY_LIMIT_APPLIES: bool = _memory_limit_applies()

#: Whether :func:`read_limited` may stand in for ``LimitedStream.read``.
LIMITED_STREAM_POSITION: bool = _limited_stream_position()

#: Werkzeug's own parse entry points when this module was imported; a
#: replaced one turns the fast path off.
STOCK_PARSE: t.Any = FormDataParser.parse
STOCK_PARSE_URLENCODED: t.Any = FormDataParser._parse_urlencoded
