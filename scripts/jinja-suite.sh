#!/usr/bin/env bash
# Runs Jinja2's own test suite (from the sdist of the Jinja2 version erlen is
# installed with), unchanged, on erlen's environment: the pytest plugin
# scripts/jinja_suite_plugin.py makes jinja2.Environment,
# jinja2.environment.Environment and the environment of jinja2.Template(...)
# resolve to erlen.jinja.FastEnvironment before any test module is imported,
# so the sandboxed and native environments subclass it too. Nothing of Jinja2's
# is committed here: the sdist is downloaded into build/ at run time.
#
# Its async tests need trio, so it runs in a venv of its own (in build/).
# Nothing is deselected.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
version=$("$root/.venv/bin/python" -c 'from importlib.metadata import version; print(version("jinja2"))')
work=$root/build/jinja-suite
venv=$work/venv
mkdir -p "$work"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
stamp=$venv/.installed-$version
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    "$venv/bin/python" -m pip install -q -e . pytest trio "jinja2==$version"
    touch "$stamp"
fi
src=$(find "$work" -maxdepth 1 -iname "jinja2-$version" -type d | head -n 1)
if [ -z "$src" ] || [ ! -d "$src/tests" ]; then
    "$venv/bin/python" -m pip download -q --no-deps --no-binary :all: "jinja2==$version" -d "$work"
    tar xzf "$(find "$work" -maxdepth 1 -iname "jinja2-$version.tar.gz" | head -n 1)" -C "$work"
    src=$(find "$work" -maxdepth 1 -iname "jinja2-$version" -type d | head -n 1)
fi
cd "$src"
echo "Jinja2 $version test suite on erlen.jinja.FastEnvironment"
PYTHONPATH="$root/scripts${PYTHONPATH:+:$PYTHONPATH}" exec "$venv/bin/python" -m pytest tests \
    -q -p jinja_suite_plugin -p no:cacheprovider -o addopts=
