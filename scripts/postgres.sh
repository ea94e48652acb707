# Sourced by scripts/test: makes sure a PostgreSQL server runs on 127.0.0.1:5432 and exports
# DONDOC_TEST_POSTGRES_URL for a scratch database, so the storage tests run on it too.
# shellcheck shell=bash

PG_HOST=127.0.0.1
PG_PORT=5432
PG_DB=dondoc_test

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; }

start_postgres() {
    if ! command -v pg_lsclusters >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "Installing PostgreSQL from the Debian packages..." >&2
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        else
            return 1
        fi
    fi
    local version cluster status
    while read -r version cluster _port status _rest; do
        if [ "$status" != online ]; then
            echo "Starting PostgreSQL $version/$cluster..." >&2
            pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start || true
        fi
    done < <(pg_lsclusters --no-header 2>/dev/null)
    local i
    for i in $(seq 1 30); do pg_up && return 0; sleep 1; done
    return 1
}

ensure_postgres() {
    if [ -n "${DONDOC_TEST_POSTGRES_URL:-}" ]; then
        return 0
    fi
    pg_up || start_postgres || true
    if ! pg_up; then
        echo "PostgreSQL is not reachable on $PG_HOST:$PG_PORT: its tests will be skipped." >&2
        return 1
    fi
    local user
    for user in postgres "$(id -un)"; do
        if psql -h "$PG_HOST" -p "$PG_PORT" -U "$user" -d postgres -tAc 'select 1' >/dev/null 2>&1; then
            if ! psql -h "$PG_HOST" -p "$PG_PORT" -U "$user" -d postgres -tAc \
                "select 1 from pg_database where datname = '$PG_DB'" | grep -q 1; then
                createdb -h "$PG_HOST" -p "$PG_PORT" -U "$user" "$PG_DB"
            fi
            export DONDOC_TEST_POSTGRES_URL="postgresql://$user@$PG_HOST:$PG_PORT/$PG_DB"
            return 0
        fi
    done
    echo "PostgreSQL runs but refuses a password-less login on $PG_HOST:$PG_PORT: its tests will be skipped." >&2
    return 1
}
