"""pytest plugin for scripts/jinja-suite.sh: Jinja2's own tests on erlen's
environment.

Loaded with ``-p jinja_suite_plugin`` before pytest imports any test module,
it makes every name under which the tests (and Jinja2 itself) reach the
environment class -- ``jinja2.Environment``, ``jinja2.environment.Environment``
and the environment that ``jinja2.Template(source)`` creates -- resolve to
:class:`erlen.jinja.FastEnvironment`. Modules imported afterwards
(``jinja2.sandbox``, ``jinja2.nativetypes``, ``jinja2.ext``) subclass or build
it too. Nothing in the tests is changed.
"""

from __future__ import annotations

import sys
import typing as t

import jinja2
import jinja2.environment

for _late in ("jinja2.sandbox", "jinja2.nativetypes", "jinja2.ext"):
    assert _late not in sys.modules, f"{_late} was imported before the patch"

from erlen.jinja import FastEnvironment  # noqa: E402

jinja2.Environment = FastEnvironment  # type: ignore[misc]
jinja2.environment.Environment = FastEnvironment  # type: ignore[misc]
jinja2.environment.Template.environment_class = FastEnvironment


def pytest_report_header() -> str:
    return (
        f"jinja2 {jinja2.__version__} on {FastEnvironment.__module__}.FastEnvironment"
    )


def pytest_collection_finish(session: t.Any) -> None:
    # Every test module (and the conftest) must have bound erlen's class
    # wherever it imported an environment class by name.
    import inspect

    modules = {item.module for item in session.items if hasattr(item, "module")}
    modules.add(sys.modules.get("conftest"))
    for module in modules:
        for name, value in vars(module or object).items():
            if inspect.isclass(value) and value.__name__ == "Environment":
                assert value is FastEnvironment, (module, name)


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    # The patch must still hold, and the late modules must have used it.
    from jinja2.nativetypes import NativeEnvironment
    from jinja2.sandbox import SandboxedEnvironment

    assert jinja2.Environment is FastEnvironment
    assert issubclass(SandboxedEnvironment, FastEnvironment)
    assert issubclass(NativeEnvironment, FastEnvironment)
