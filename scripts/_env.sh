# Sourced by scripts/demo and scripts/test: finds Python 3.11+ and keeps .venv up to date.
# shellcheck shell=bash

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "dondoc needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

# ensure_venv EXTRAS: create .venv and (re)install the project when pyproject.toml changed.
ensure_venv() {
    local extras="$1" stamp=".venv/.installed${extras:+-$extras}"
    if [ ! -x .venv/bin/python ]; then
        "$(find_python)" -m venv .venv
    fi
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        .venv/bin/python -m pip install --quiet --upgrade pip
        .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
        touch "$stamp"
    fi
}
