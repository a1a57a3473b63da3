"""Application configuration: a ``dict`` that can fill itself from files,
objects, mappings and environment variables, and ``ConfigAttribute``, the
descriptor that exposes config keys as application attributes."""

from __future__ import annotations

import errno
import json
import os
import types
import typing as t

from werkzeug.utils import import_string

if t.TYPE_CHECKING:
    import typing_extensions as te

T = t.TypeVar("T")

# errno values that mean "the file is not there" for ``silent=True``.
_PYFILE_MISSING = (errno.ENOENT, errno.EISDIR, errno.ENOTDIR)
_FILE_MISSING = (errno.ENOENT, errno.EISDIR)


class _HasConfig(t.Protocol):
    config: Config


class ConfigAttribute(t.Generic[T]):
    """An attribute that reads and writes the config key ``name``.

    :param name: The config key.
    :param get_converter: Applied to the config value when it is read, e.g.
        to turn a number of seconds into a :class:`~datetime.timedelta`.
    """

    def __init__(
        self, name: str, get_converter: t.Callable[[t.Any], T] | None = None
    ) -> None:
        self.__name__ = name
        self.get_converter = get_converter

    @t.overload
    def __get__(self, obj: None, owner: type[t.Any] | None = None) -> te.Self: ...

    @t.overload
    def __get__(self, obj: _HasConfig, owner: type[t.Any] | None = None) -> T: ...

    def __get__(
        self, obj: _HasConfig | None, owner: type[t.Any] | None = None
    ) -> T | te.Self:
        if obj is None:
            return self
        value = obj.config[self.__name__]
        if self.get_converter is not None:
            value = self.get_converter(value)
        return value  # type: ignore[no-any-return]

    def __set__(self, obj: _HasConfig, value: t.Any) -> None:
        obj.config[self.__name__] = value


class Config(dict):  # type: ignore[type-arg]
    """A ``dict`` of configuration values with helpers to load them.

    Only UPPERCASE keys are taken from objects, Python files and mappings, so
    a config module can keep lowercase helper variables to itself::

        app.config.from_object("yourapp.default_settings")
        app.config.from_pyfile("production.cfg", silent=True)
        app.config.from_prefixed_env()

    :param root_path: Relative file names are resolved against this folder;
        for an application's config it is the application's ``root_path``.
    :param defaults: Initial values.
    """

    def __init__(
        self,
        root_path: str | os.PathLike[str],
        defaults: dict[str, t.Any] | None = None,
    ) -> None:
        super().__init__(defaults or {})
        self.root_path = root_path

    def from_envvar(self, variable_name: str, silent: bool = False) -> bool:
        """Load the Python config file named by the environment variable
        ``variable_name`` (see :meth:`from_pyfile`).

        :param silent: Return ``False`` instead of raising when the variable
            is unset or the file is missing.
        :return: ``True`` if a file was loaded.
        """
        filename = os.environ.get(variable_name)
        if not filename:
            if silent:
                return False
            raise RuntimeError(
                f"The environment variable {variable_name!r} is not set"
                " and as such configuration could not be loaded. Set"
                " this variable and make it point to a configuration"
                " file"
            )
        return self.from_pyfile(filename, silent=silent)

    def from_prefixed_env(
        self,
        prefix: str | None = None,
        *,
        loads: t.Callable[[str], t.Any] = json.loads,
    ) -> bool:
        """Load environment variables named ``{prefix}_KEY`` as ``KEY``.

        Without a prefix, ``FLASK_KEY`` variables are loaded first (for apps
        moved from Flask), then ``ERLEN_KEY`` ones, which win.

        Variables are read in sorted order. Each value is passed through
        ``loads`` (JSON by default, so ``42``, ``true`` and ``{"a": 1}`` become
        Python values); when that fails the value stays a string. A key with
        double underscores sets an item of a nested dict:
        ``ERLEN_DB__HOST`` sets ``config["DB"]["HOST"]``, creating missing
        intermediate dicts.

        :param prefix: The prefix, without the trailing underscore.
        :param loads: Turns each string value into a config value.
        :return: Always ``True``.
        """
        if prefix is None:
            self.from_prefixed_env("FLASK", loads=loads)
            return self.from_prefixed_env("ERLEN", loads=loads)
        start = f"{prefix}_"
        for env_key in sorted(os.environ):
            if not env_key.startswith(start):
                continue
            raw = os.environ[env_key]
            key = env_key[len(start) :]
            value: t.Any
            try:
                value = loads(raw)
            except Exception:
                value = raw
            *parents, leaf = key.split("__")
            target: t.Any = self
            for part in parents:
                if part not in target:
                    target[part] = {}
                target = target[part]
            target[leaf] = value
        return True

    def from_pyfile(
        self, filename: str | os.PathLike[str], silent: bool = False
    ) -> bool:
        """Execute a Python file and load its UPPERCASE globals, as if the file
        were a module passed to :meth:`from_object`.

        :param filename: Absolute, or relative to :attr:`root_path`.
        :param silent: Return ``False`` instead of raising when the file is
            missing.
        :return: ``True`` if the file was loaded.
        """
        path = os.path.join(self.root_path, filename)
        module = types.ModuleType("config")
        module.__file__ = path
        # As in Flask, an OSError raised by the file's own code is reported
        # (and silenced) like one from opening it.
        try:
            with open(path, mode="rb") as f:
                exec(compile(f.read(), path, "exec"), module.__dict__)
        except OSError as e:
            if silent and e.errno in _PYFILE_MISSING:
                return False
            e.strerror = f"Unable to load configuration file ({e.strerror})"
            raise
        self.from_object(module)
        return True

    def from_object(self, obj: object | str) -> None:
        """Load the UPPERCASE attributes of an object, usually a module or a
        class. A string is imported first (``"pkg.settings"`` or
        ``"pkg.settings:Production"``).

        A ``dict`` does not work here (its keys are not attributes); use
        :meth:`from_mapping`. A class with ``@property`` values must be
        instantiated first.
        """
        if isinstance(obj, str):
            obj = import_string(obj)
        for key in dir(obj):
            if key.isupper():
                self[key] = getattr(obj, key)

    def from_file(
        self,
        filename: str | os.PathLike[str],
        load: t.Callable[[t.IO[t.Any]], t.Mapping[str, t.Any]],
        silent: bool = False,
        text: bool = True,
    ) -> bool:
        """Load a data file with ``load`` and pass the result to
        :meth:`from_mapping`::

            app.config.from_file("config.json", load=json.load)
            app.config.from_file("config.toml", load=tomllib.load, text=False)

        :param filename: Absolute, or relative to :attr:`root_path`.
        :param load: Takes an open file and returns a mapping.
        :param silent: Return ``False`` instead of raising when the file is
            missing.
        :param text: Open the file in text mode (``False``: binary).
        :return: ``True`` if the file was loaded.
        """
        path = os.path.join(self.root_path, filename)
        try:
            with open(path, "r" if text else "rb") as f:
                data = load(f)
        except OSError as e:
            if silent and e.errno in _FILE_MISSING:
                return False
            e.strerror = f"Unable to load configuration file ({e.strerror})"
            raise
        return self.from_mapping(data)

    def from_mapping(
        self, mapping: t.Mapping[str, t.Any] | None = None, **kwargs: t.Any
    ) -> bool:
        """Update from a mapping and keyword arguments, ignoring keys that are
        not UPPERCASE.

        :return: Always ``True``.
        """
        items: dict[str, t.Any] = {}
        if mapping is not None:
            items.update(mapping)
        items.update(kwargs)
        for key, value in items.items():
            if key.isupper():
                self[key] = value
        return True

    def get_namespace(
        self, namespace: str, lowercase: bool = True, trim_namespace: bool = True
    ) -> dict[str, t.Any]:
        """Return the options whose keys start with ``namespace``::

            app.config["IMAGE_STORE_TYPE"] = "fs"
            app.config.get_namespace("IMAGE_STORE_")  # {"type": "fs"}

        :param namespace: The key prefix.
        :param lowercase: Lowercase the returned keys.
        :param trim_namespace: Remove the prefix from the returned keys.
        """
        result: dict[str, t.Any] = {}
        for key, value in self.items():
            if not key.startswith(namespace):
                continue
            if trim_namespace:
                key = key[len(namespace) :]
            if lowercase:
                key = key.lower()
            result[key] = value
        return result

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {dict.__repr__(self)}>"
