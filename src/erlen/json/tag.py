"""Tagged JSON: lossless JSON for a few non-JSON types.

The signed-cookie session uses :class:`TaggedJSONSerializer` for its payload.
A value JSON cannot represent is written as a one-item object whose key is the
type's tag, e.g. ``(1, 2)`` becomes ``{" t": [1, 2]}``. The tags and their
encodings are Flask's, byte for byte, so session cookies move between Flask
and erlen in both directions.

New types are supported by subclassing :class:`JSONTag` and registering it::

    class TagOrderedDict(JSONTag):
        __slots__ = ()
        key = " od"

        def check(self, value):
            return isinstance(value, OrderedDict)

        def to_json(self, value):
            return [[k, self.serializer.tag(v)] for k, v in value.items()]

        def to_python(self, value):
            return OrderedDict(value)

    # dict is checked first, so the more specific tag goes in front.
    app.session_interface.serializer.register(TagOrderedDict, index=0)
"""

from __future__ import annotations

import typing as t
from base64 import b64decode, b64encode
from datetime import datetime
from uuid import UUID

from markupsafe import Markup
from werkzeug.http import http_date, parse_date

from . import dumps, loads


class JSONTag:
    """Base class for a type tag of a :class:`TaggedJSONSerializer`."""

    __slots__ = ("serializer",)

    #: The key that marks a tagged value. An empty key makes a tag that only
    #: transforms values on the way out (such as recursing into containers).
    key: str = ""

    def __init__(self, serializer: TaggedJSONSerializer) -> None:
        self.serializer = serializer

    def check(self, value: t.Any) -> bool:
        """Whether this tag handles ``value``."""
        raise NotImplementedError

    def to_json(self, value: t.Any) -> t.Any:
        """Turn ``value`` into a JSON-compatible value (without the tag)."""
        raise NotImplementedError

    def to_python(self, value: t.Any) -> t.Any:
        """Turn the untagged JSON value back into the Python object."""
        raise NotImplementedError

    def tag(self, value: t.Any) -> dict[str, t.Any]:
        """Convert ``value`` and wrap it in ``{key: ...}``."""
        return {self.key: self.to_json(value)}


class TagDict(JSONTag):
    """A one-item dict whose key is itself a registered tag.

    Its key gets a ``__`` suffix on the wire so it is not mistaken for a
    tagged value; loading removes the suffix again.
    """

    __slots__ = ()
    key = " di"

    def check(self, value: t.Any) -> bool:
        return (
            isinstance(value, dict)
            and len(value) == 1
            and next(iter(value)) in self.serializer.tags
        )

    def to_json(self, value: t.Any) -> t.Any:
        (item_key, item) = next(iter(value.items()))
        return {f"{item_key}__": self.serializer.tag(item)}

    def to_python(self, value: t.Any) -> t.Any:
        (item_key, item) = next(iter(value.items()))
        return {item_key[:-2]: item}


class PassDict(JSONTag):
    """Tag the values of any other dict; the dict itself stays untagged."""

    __slots__ = ()

    def check(self, value: t.Any) -> bool:
        return isinstance(value, dict)

    def to_json(self, value: t.Any) -> t.Any:
        # JSON object keys are always strings, so only values need tagging.
        tag = self.serializer.tag
        return {k: tag(v) for k, v in value.items()}

    def tag(self, value: t.Any) -> t.Any:
        return self.to_json(value)


class TagTuple(JSONTag):
    """``tuple``: a tagged list."""

    __slots__ = ()
    key = " t"

    def check(self, value: t.Any) -> bool:
        return isinstance(value, tuple)

    def to_json(self, value: t.Any) -> t.Any:
        tag = self.serializer.tag
        return [tag(item) for item in value]

    def to_python(self, value: t.Any) -> t.Any:
        return tuple(value)


class PassList(JSONTag):
    """Tag the items of a list; the list itself stays untagged."""

    __slots__ = ()

    def check(self, value: t.Any) -> bool:
        return isinstance(value, list)

    def to_json(self, value: t.Any) -> t.Any:
        tag = self.serializer.tag
        return [tag(item) for item in value]

    def tag(self, value: t.Any) -> t.Any:
        return self.to_json(value)


class TagBytes(JSONTag):
    """``bytes``: base64 text."""

    __slots__ = ()
    key = " b"

    def check(self, value: t.Any) -> bool:
        return isinstance(value, bytes)

    def to_json(self, value: t.Any) -> t.Any:
        return b64encode(value).decode("ascii")

    def to_python(self, value: t.Any) -> t.Any:
        return b64decode(value)


class TagMarkup(JSONTag):
    """Anything with an ``__html__`` method: the HTML string it returns.
    Always loads as :class:`~markupsafe.Markup`."""

    __slots__ = ()
    key = " m"

    def check(self, value: t.Any) -> bool:
        return callable(getattr(value, "__html__", None))

    def to_json(self, value: t.Any) -> t.Any:
        return str(value.__html__())

    def to_python(self, value: t.Any) -> t.Any:
        return Markup(value)


class TagUUID(JSONTag):
    """:class:`~uuid.UUID`: its 32 hex digits."""

    __slots__ = ()
    key = " u"

    def check(self, value: t.Any) -> bool:
        return isinstance(value, UUID)

    def to_json(self, value: t.Any) -> t.Any:
        return value.hex

    def to_python(self, value: t.Any) -> t.Any:
        return UUID(value)


class TagDateTime(JSONTag):
    """:class:`~datetime.datetime`: an HTTP date (whole seconds, loads as
    an aware UTC datetime)."""

    __slots__ = ()
    key = " d"

    def check(self, value: t.Any) -> bool:
        return isinstance(value, datetime)

    def to_json(self, value: t.Any) -> t.Any:
        return http_date(value)

    def to_python(self, value: t.Any) -> t.Any:
        return parse_date(value)


class TaggedJSONSerializer:
    """Compact JSON for dicts, lists and the tagged types: ``dict``,
    ``tuple``, ``bytes``, :class:`~markupsafe.Markup`, :class:`~uuid.UUID`
    and :class:`~datetime.datetime`. Used as the payload serializer of
    :class:`itsdangerous.Serializer` by the session interface.
    """

    __slots__ = ("order", "tags")

    #: Tag classes registered by every new serializer, in checking order.
    default_tags: t.ClassVar[list[type[JSONTag]]] = [
        TagDict,
        PassDict,
        TagTuple,
        PassList,
        TagBytes,
        TagMarkup,
        TagUUID,
        TagDateTime,
    ]

    def __init__(self) -> None:
        self.tags: dict[str, JSONTag] = {}
        self.order: list[JSONTag] = []
        for tag_class in self.default_tags:
            self.register(tag_class)

    def register(
        self,
        tag_class: type[JSONTag],
        force: bool = False,
        index: int | None = None,
    ) -> None:
        """Instantiate ``tag_class`` for this serializer and register it.

        :param force: Replace a tag already registered under the same key
            instead of raising :exc:`KeyError`.
        :param index: Position in the checking order; the end by default.
            Insert in front of a more general tag (e.g. before ``dict``).
        """
        tag = tag_class(self)
        if tag.key:
            if not force and tag.key in self.tags:
                raise KeyError(f"Tag '{tag.key}' is already registered.")
            self.tags[tag.key] = tag
        if index is None:
            self.order.append(tag)
        else:
            self.order.insert(index, tag)

    def tag(self, value: t.Any) -> t.Any:
        """Return the tagged, JSON-compatible form of ``value``."""
        for tag in self.order:
            if tag.check(value):
                return tag.tag(value)
        return value

    def untag(self, value: dict[str, t.Any]) -> t.Any:
        """Return the object a tagged one-item dict stands for; any other dict
        is returned unchanged."""
        if len(value) != 1:
            return value
        key = next(iter(value))
        tag = self.tags.get(key)
        if tag is None:
            return value
        return tag.to_python(value[key])

    def _untag_scan(self, value: t.Any) -> t.Any:
        # Inside out: a container's items are restored before the container.
        if isinstance(value, dict):
            return self.untag({k: self._untag_scan(v) for k, v in value.items()})
        if isinstance(value, list):
            return [self._untag_scan(item) for item in value]
        return value

    def dumps(self, value: t.Any) -> str:
        """Tag ``value`` and serialize it to compact JSON."""
        return dumps(self.tag(value), separators=(",", ":"))

    def loads(self, value: str | bytes) -> t.Any:
        """Parse JSON and restore every tagged value in it."""
        return self._untag_scan(loads(value))
