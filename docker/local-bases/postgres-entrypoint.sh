#!/bin/sh
# Entrypoint of the local PostgreSQL image (postgres.Containerfile), following the official
# postgres image's contract as docker/compose.yaml uses it:
#   POSTGRES_PASSWORD_FILE (or POSTGRES_PASSWORD): the superuser's password, required on first start
#   POSTGRES_USER (default postgres): the superuser; POSTGRES_DB (default POSTGRES_USER): created
#   PGDATA (default /var/lib/postgresql/data): initdb'd on the first start, reused afterwards
# Started as root it prepares the directories and re-executes itself as `postgres`; the server
# never runs as root. The password is read from the file by initdb only: never put in arguments.
set -eu

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

if [ "${1:-postgres}" != "postgres" ]; then
    exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    chmod 2775 /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    user="${POSTGRES_USER:-postgres}"
    db="${POSTGRES_DB:-$user}"
    pwfile="$(mktemp)"
    trap 'rm -f "$pwfile"' EXIT
    if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
        if ! [ -r "$POSTGRES_PASSWORD_FILE" ]; then
            echo "postgres-entrypoint: POSTGRES_PASSWORD_FILE $POSTGRES_PASSWORD_FILE is not readable by postgres" >&2
            exit 1
        fi
        head -n 1 "$POSTGRES_PASSWORD_FILE" | tr -d '\r\n' > "$pwfile"
    elif [ -n "${POSTGRES_PASSWORD:-}" ]; then
        printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
    fi
    if ! [ -s "$pwfile" ]; then
        echo "postgres-entrypoint: the database is uninitialized and no password is set" \
             "(POSTGRES_PASSWORD_FILE or POSTGRES_PASSWORD)" >&2
        exit 1
    fi
    initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    printf "listen_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
    printf "host all all all scram-sha-256\n" >> "$PGDATA/pg_hba.conf"
    if [ "$db" != postgres ]; then
        # a server on the local socket only, as the official image does while it initializes
        pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
        createdb --username="$user" "$db"
        pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
    fi
    echo "postgres-entrypoint: initialized $PGDATA (superuser $user, database $db)"
fi

exec "$@"
