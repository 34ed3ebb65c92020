#!/bin/sh
# The image's install steps, in one place: docker/Dockerfile runs them, and
# tests/docker/test_install.py runs the same in a clean virtualenv.
#
#   install.sh wheel SOURCE_DIR WHEEL_DIR   build leaderless's wheel from a source tree
#   install.sh venv WHEEL_DIR VENV_DIR      a new virtualenv with that wheel and its dependencies
#
# PYTHON names the interpreter (default: python3).
set -eu
python=${PYTHON:-python3}
case "${1:-}" in
wheel)
    "$python" -m pip wheel --no-cache-dir --no-deps --wheel-dir "$3" "$2"
    ;;
venv)
    "$python" -m venv "$3"
    "$3/bin/pip" install --no-cache-dir "$2"/leaderless-*.whl
    ;;
*)
    echo "usage: install.sh wheel SOURCE_DIR WHEEL_DIR | venv WHEEL_DIR VENV_DIR" >&2
    exit 2
    ;;
esac
