#!/usr/bin/env bash
# Runs the own test suites of Flask extensions (from their sdists on PyPI),
# unchanged, on erlen through erlen.flask_patch, each over WSGI and then ASGI
# (ERLEN_TEST_PROTOCOL=asgi: every test client request goes through
# app.asgi_app). Nothing of theirs is committed here: each sdist is downloaded
# into build/extension-suites/<name>/ at run time, and each extension gets a
# venv of its own there, with every test dependency pinned.
#
# Usage: scripts/extension-suites.sh [NAME...]   (default: all of them)
#
# All suites run before the exit status is decided; one line per suite and
# protocol is printed at the end. A suite that fails or collects no tests
# (pytest's exit 5) makes the script exit non-zero. Nothing is deselected;
# the few tests that are skipped are skipped on real Flask 3.1.3 too (their
# reasons are in the logs, -rs).
#
# Flask-Caching's tests need a Redis on port 6360 and a Memcached on port 11212
# (both ports are written into its tests): this script starts them itself and
# stops them on exit. CI=true makes its conftest fail, not skip, when one is
# missing. Its xprocess fixture needs pytest's cache, so that one suite keeps
# it (in build/). pylibmc is needed (without it its 16 Memcached backend tests
# skip); its manylinux wheel bundles libmemcached, so no -dev package.
#
# Left out: Flask-Limiter (its storage tests need docker), Flask-RESTful and
# Flask-Babel (their suites fail on real Flask 3.1 too), and Flask-Admin (its
# fixtures are bound to the test's thread, and under the ASGI test client a
# plain def view runs in a worker thread, as under asgiref).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$root/build/extension-suites
mkdir -p "$work"

all=(flask-login flask-wtf flask-cors flask-sqlalchemy flask-caching
     flask-jwt-extended flask-httpauth flask-smorest apiflask)
# name -> "sdist spec|unpacked directory"
declare -A SDIST=(
    [flask-login]="Flask-Login==0.6.3|Flask-Login-0.6.3"
    [flask-wtf]="Flask-WTF==1.3.0|flask_wtf-1.3.0"
    [flask-cors]="Flask-CORS==6.0.5|flask_cors-6.0.5"
    [flask-sqlalchemy]="Flask-SQLAlchemy==3.1.1|flask_sqlalchemy-3.1.1"
    [flask-caching]="Flask-Caching==2.5.1|flask_caching-2.5.1"
    [flask-jwt-extended]="flask-jwt-extended==4.7.4|flask_jwt_extended-4.7.4"
    [flask-httpauth]="flask-httpauth==4.8.1|flask_httpauth-4.8.1"
    [flask-smorest]="flask-smorest==0.47.0|flask_smorest-0.47.0"
    [apiflask]="apiflask==3.1.2|apiflask-3.1.2"
)
flask="Flask==3.1.3 Werkzeug==3.1.9 Jinja2==3.1.6 MarkupSafe==3.0.4 itsdangerous==2.2.0 click==8.5.1 blinker==1.9.0"
pytest="pytest==9.2.0 iniconfig==2.3.1 packaging==26.4 pluggy==1.7.0 Pygments==2.21.0"
# Every package in the venv besides erlen and the extension, pinned.
declare -A DEPS=(
    [flask-login]="$flask $pytest asgiref==3.13.0 semantic-version==2.10.0"
    [flask-wtf]="$flask $pytest WTForms==3.3.2 flask-babel==4.0.0 babel==2.19.0 pytz==2026.6 Flask-Reuploaded==1.6.0"
    [flask-cors]="$flask $pytest"
    # SQLAlchemy 2.1 fails 154 of its tests on real Flask too (3.1.1 predates it).
    [flask-sqlalchemy]="$flask $pytest SQLAlchemy==2.0.20 greenlet==3.5.6 typing_extensions==4.16.0"
    [flask-caching]="$flask $pytest asgiref==3.13.0 cachelib==0.17.0 pytest-asyncio==1.5.0 pytest-xprocess==1.0.2 psutil==7.2.2 redis==8.1.0 pylibmc==1.6.3 python-memcached==1.62 typing_extensions==4.16.0"
    [flask-jwt-extended]="$flask $pytest asgiref==3.13.0 PyJWT==2.15.1 cryptography==50.0.2 cffi==2.1.1 pycparser==3.12 python-dateutil==4.0.0 tzdata==2026.6"
    [flask-httpauth]="$flask $pytest asgiref==3.13.0"
    # The versions its own CI uses (newer Werkzeug and pytest change test output it compares).
    [flask-smorest]="${flask/Werkzeug==3.1.9/Werkzeug==3.1.6} ${pytest/pytest==9.2.0/pytest==9.0.2} asgiref==3.13.0 marshmallow==4.4.0 webargs==8.7.1 apispec==6.10.0 PyYAML==6.0.4"
    # Its requirements/tests.txt (less coverage), plus what its tests and examples import.
    [apiflask]="$flask pytest==8.4.2 iniconfig==2.1.0 packaging==25.0 pluggy==1.6.0 Pygments==2.19.2 asgiref==3.10.0 apispec==6.10.1 marshmallow==4.0.1 marshmallow_dataclass==8.7.1 typeguard==4.6.1 typing-inspect==0.9.0 mypy_extensions==1.2.0 typing_extensions==4.15.0 webargs==8.7.1 Flask-HTTPAuth==4.8.1 flask-marshmallow==1.5.0 Flask-SQLAlchemy==3.1.1 SQLAlchemy==2.0.44 greenlet==3.5.6 Authlib==1.9.10 joserfc==1.8.0 cryptography==50.0.2 cffi==2.1.1 pycparser==3.12 email-validator==2.4.0 dnspython==2.9.2 idna==3.11 pydantic==2.13.5 pydantic_core==2.46.5 annotated-types==0.8.0 typing-inspection==0.4.5 openapi-spec-validator==0.7.2 openapi-schema-validator==0.6.3 jsonschema==4.25.1 jsonschema-path==0.3.4 jsonschema-specifications==2025.9.1 referencing==0.36.2 rpds-py==0.27.1 attrs==25.4.0 lazy-object-proxy==1.12.0 pathable==0.4.4 rfc3339-validator==0.1.4 six==1.17.0 PyYAML==6.0.3 requests==2.32.5 certifi==2025.11.12 charset-normalizer==3.4.4 urllib3==2.5.0"
)
# pytest arguments: the test paths, then configuration only (no test is changed).
declare -A ARGS=(
    [flask-caching]="tests -o cache_dir=$work/flask-caching/pytest-cache -o asyncio_default_fixture_loop_scope=function"
    [apiflask]="tests examples"
)

names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${all[@]}")
for name in "${names[@]}"; do
    [ -n "${SDIST[$name]:-}" ] || { echo "unknown suite: $name (known: ${all[*]})" >&2; exit 2; }
done

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
servers_err=
start_servers() {
    local p
    for p in 6360 11212; do
        if listening $p; then
            servers_err="port $p is already in use (Flask-Caching's tests need it for their own server)"
            return
        fi
    done
    redis-server --port 6360 --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
    pids+=($!)
    # memcached refuses to run as root unless told which user to become.
    memcached -l 127.0.0.1 -p 11212 -U 0 $([ "${EUID:-$(id -u)}" -eq 0 ] && echo -u nobody) \
        >"$work/memcached.log" 2>&1 &
    pids+=($!)
    for p in 6360 11212; do
        for _ in $(seq 50); do listening $p && break; sleep 0.1; done
        listening $p || servers_err="no server came up on port $p (see $work/redis.log, memcached.log)"
    done
}

declare -A result=()
status=0
for name in "${names[@]}"; do
    IFS='|' read -r spec dir <<<"${SDIST[$name]}"
    d=$work/$name
    venv=$d/venv
    mkdir -p "$d"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    if [ ! -d "$d/$dir" ]; then
        "$venv/bin/python" -m pip download -q --no-deps --no-binary :all: "$spec" -d "$d"
        tar xzf "$d/$dir.tar.gz" -C "$d"
    fi
    # Reinstalled when the pins or erlen's pyproject.toml change.
    want="$spec ${DEPS[$name]}"
    if [ ! -f "$venv/.installed" ] || [ "$(cat "$venv/.installed")" != "$want" ] ||
        [ pyproject.toml -nt "$venv/.installed" ]; then
        # shellcheck disable=SC2086
        "$venv/bin/python" -m pip install -q -e . "$d/$dir" ${DEPS[$name]}
        echo "$want" >"$venv/.installed"
    fi
    if [ "$name" = flask-caching ] && [ ${#pids[@]} -eq 0 ]; then
        start_servers
    fi
    for proto in wsgi asgi; do
        echo "== $spec test suite on erlen over ${proto^^}"
        log=$d/$proto.log
        # shellcheck disable=SC2086
        if [ "$name" = flask-caching ] && [ -n "$servers_err" ]; then
            echo "$servers_err" | tee "$log"; rc=1
        elif (cd "$d/$dir" && CI=true ERLEN_TEST_PROTOCOL=$proto "$venv/bin/python" -c '
import sys
import erlen.flask_patch  # before anything imports flask
import flask, erlen, pytest
assert flask.Flask is erlen.Erlen, "the patch did not take"
args = sys.argv[1:] or ["tests"]
if not any(a.startswith("cache_dir=") for a in args):
    args += ["-p", "no:cacheprovider"]
sys.exit(pytest.main([*args, "-q", "-rs", "-o", "addopts="]))
' ${ARGS[$name]:-}) 2>&1 | tee "$log"; then
            rc=0
        else
            rc=$?
        fi
        line=$(grep -E '^=*\s*[0-9]+ (passed|failed|error|skipped|deselected)|no tests ran' "$log" | tail -n 1 | sed -E 's/^=+ //; s/ =+$//' || true)
        if [ $rc -eq 0 ]; then verdict=ok; else verdict="FAILED (exit $rc)"; status=1; fi
        result[$name/$proto]="$verdict: ${line:-$(tail -n 1 "$log") (see $log)}"
    done
done

echo
echo "== Flask extensions' own suites on erlen"
for name in "${names[@]}"; do
    for proto in wsgi asgi; do
        printf '%-40s %-4s %s\n' "${SDIST[$name]%%|*}" "$proto" "${result[$name/$proto]}"
    done
done
exit $status
