"""Make ``import flask`` give erlen, so Flask extensions and apps run unchanged.

Import it once, before anything imports ``flask``::

    import erlen.flask_patch  # noqa: F401
    from flask_login import LoginManager  # now built on erlen

Afterwards ``flask`` is a thin module that forwards every attribute to
:mod:`erlen`, adds Flask's names for the classes erlen renames (``Flask`` is
:class:`erlen.Erlen`, ``FlaskClient`` is ``ErlenClient`` and so on) and reports
a Flask-compatible ``__version__``. The submodules (``flask.app``,
``flask.globals``, ``flask.json.provider``, ``flask.sansio.app``, ...) are
erlen's own module objects, so monkeypatching them patches erlen. ``werkzeug``,
``jinja2`` and every other package are left alone.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import typing as t
import warnings

import erlen

_MISSING = object()

__all__ = ["FLASK_VERSION", "SUBMODULES", "install"]

#: The Flask release whose API erlen follows, reported as ``flask.__version__``.
FLASK_VERSION = "3.1.3"

#: Flask's public submodules and the erlen module each one resolves to. Other
#: ``flask.<name>`` imports are tried as ``erlen.<name>`` as well.
SUBMODULES: dict[str, str] = {
    "flask.app": "erlen.app",
    "flask.blueprints": "erlen.blueprints",
    "flask.cli": "erlen.cli",
    "flask.config": "erlen.config",
    "flask.ctx": "erlen.ctx",
    "flask.debughelpers": "erlen.debughelpers",
    "flask.globals": "erlen.globals",
    "flask.helpers": "erlen.helpers",
    "flask.json": "erlen.json",
    "flask.json.provider": "erlen.json.provider",
    "flask.json.tag": "erlen.json.tag",
    "flask.logging": "erlen.logging",
    "flask.sessions": "erlen.sessions",
    "flask.signals": "erlen.signals",
    "flask.templating": "erlen.templating",
    "flask.testing": "erlen.testing",
    "flask.typing": "erlen.typing",
    "flask.views": "erlen.views",
    "flask.wrappers": "erlen.wrappers",
    # Flask 3 splits the app, blueprint and scaffold base classes into a
    # ``sansio`` package; erlen has one class of each.
    "flask.sansio.app": "erlen.app",
    "flask.sansio.blueprints": "erlen.blueprints",
    "flask.sansio.scaffold": "erlen.scaffold",
}

# Modules that exist only as containers on the Flask side.
_PACKAGES = ("flask", "flask.sansio")
# Never aliased: running ``erlen.__main__`` would start the CLI.
_NOT_ALIASED = frozenset({"flask.__main__", "flask.flask_patch"})
_MARKER = "__erlen_flask_patch__"


def _flask_name(erlen_name: str) -> str:
    return erlen_name.replace("Erlen", "Flask")


def _erlen_name(flask_name: str) -> str:
    return flask_name.replace("Flask", "Erlen")


def _target(flask_module: str) -> str:
    """The erlen module a ``flask.*`` module name resolves to."""
    mapped = SUBMODULES.get(flask_module)
    if mapped is not None:
        return mapped
    if flask_module.startswith("flask.sansio."):
        return "erlen." + flask_module[len("flask.sansio.") :]
    return "erlen" + flask_module[len("flask") :]


class _FlaskModule(types.ModuleType):
    """The ``flask`` package: a view of :mod:`erlen` under Flask's names."""

    def __getattr__(self, name: str) -> t.Any:
        if name == "__version__":
            # Flask 3.1 deprecates the attribute with this same warning.
            warnings.warn(
                "The '__version__' attribute is deprecated and will be removed in"
                " Flask 3.2. Use feature detection or"
                " 'importlib.metadata.version(\"flask\")' instead.",
                DeprecationWarning,
                stacklevel=2,
            )
            return FLASK_VERSION
        if name == "__all__":
            names = getattr(erlen, "__all__", None)
            if names is None:
                names = [
                    n
                    for n in vars(erlen)
                    if not n.startswith("_") and n not in ("annotations", "flask_patch")
                ]
            return sorted({*names, *(_flask_name(n) for n in names)})
        if name.startswith("__"):
            raise AttributeError(name)
        erlen_name = _erlen_name(name)
        value = vars(erlen).get(erlen_name, _MISSING)
        if value is not _MISSING:
            # PERF: later reads of flask.<name> find it in this module's dict,
            # without this method (about 1 µs each otherwise).
            self.__dict__[name] = value
            return value
        try:
            return getattr(erlen, erlen_name)
        except AttributeError:
            raise AttributeError(
                f"module 'flask' has no attribute {name!r}"
                f" (erlen.flask_patch: erlen has no {_erlen_name(name)!r})"
            ) from None

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self.__getattr__("__all__")})


def _add_flask_names(module: types.ModuleType) -> None:
    """Give ``module`` Flask's name for every class erlen names differently."""
    for name, value in list(vars(module).items()):
        if "Erlen" in name:
            flask_name = _flask_name(name)
            if flask_name not in vars(module):
                setattr(module, flask_name, value)
    if module.__name__ == "erlen.app" and hasattr(module, "Erlen"):
        # ``flask.sansio.app.App`` is the base class of ``Flask``.
        module.__dict__.setdefault("App", module.Erlen)


def _is_missing(exc: ModuleNotFoundError) -> bool:
    """True if ``exc`` means an erlen module does not exist (yet)."""
    return exc.name is not None and (
        exc.name == "erlen" or exc.name.startswith("erlen.")
    )


def _resolve(flask_module: str) -> types.ModuleType:
    """Import the erlen module behind ``flask_module``, with Flask's names added."""
    target = _target(flask_module)
    try:
        module = importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if not _is_missing(exc):
            raise
        raise ModuleNotFoundError(
            f"No module named {flask_module!r}: erlen.flask_patch maps it to"
            f" {target!r}, which could not be imported ({exc})",
            name=flask_module,
        ) from exc
    _add_flask_names(module)
    return module


class _FlaskFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves later ``import flask.<name>`` statements from erlen."""

    def find_spec(
        self,
        fullname: str,
        path: t.Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in _PACKAGES:  # importlib.reload() asks for these again
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        if not fullname.startswith("flask.") or fullname in _NOT_ALIASED:
            return None
        _resolve(fullname)  # fail here, with a clear message, if erlen lacks it
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(
        self, spec: importlib.machinery.ModuleSpec
    ) -> types.ModuleType | None:
        if spec.name in _PACKAGES:
            return _new_package(spec.name, self)
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        if getattr(module, _MARKER, False):
            return  # the ``flask`` or ``flask.sansio`` shell: nothing to run
        # Swapping the entry in sys.modules makes the import statement return
        # erlen's module itself; the placeholder carrying the flask spec is
        # dropped, so erlen's modules keep their own __spec__.
        sys.modules[module.__name__] = _resolve(module.__name__)


def _new_package(name: str, finder: _FlaskFinder) -> types.ModuleType:
    module = _FlaskModule(name) if name == "flask" else types.ModuleType(name)
    module.__path__ = []
    module.__package__ = name
    module.__spec__ = importlib.machinery.ModuleSpec(name, finder, is_package=True)
    module.__loader__ = finder
    setattr(module, _MARKER, True)
    return module


def install() -> None:
    """Install the patch; runs on import, and again is a no-op.

    Raises :exc:`ImportError` if real Flask was imported first, since objects
    already built on it (apps, extensions) could not be switched to erlen.
    """
    current = sys.modules.get("flask")
    if current is not None and getattr(current, _MARKER, False):
        return
    imported = sorted(
        name for name in sys.modules if name == "flask" or name.startswith("flask.")
    )
    if imported:
        raise ImportError(
            "erlen.flask_patch must be imported before Flask: "
            f"{', '.join(imported)} already imported from real Flask."
            " Import erlen.flask_patch first (e.g. at the top of conftest.py or"
            " of your application's entry point)."
        )
    finder = _FlaskFinder()
    for name in _PACKAGES:
        sys.modules[name] = _new_package(name, finder)
    setattr(sys.modules["flask"], "sansio", sys.modules["flask.sansio"])
    sys.meta_path.insert(0, finder)
    for name in SUBMODULES:
        try:
            module = _resolve(name)
        except ModuleNotFoundError as exc:
            # Tolerated: an erlen module that does not exist yet fails at the
            # later ``import flask.<name>`` instead, with the same message.
            if exc.name != name:
                raise
            continue
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent in _PACKAGES:
            setattr(sys.modules[parent], child, module)


install()
