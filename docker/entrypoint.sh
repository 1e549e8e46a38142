#!/bin/sh
# Entrypoint of the hpsearch image, for every role (Ray head, Ray worker, hpsearch CLI).
#
# When the container holds the PostgreSQL password as a secret file (POSTGRES_PASSWORD_FILE)
# and HPSEARCH_STORAGE is not set, build HPSEARCH_STORAGE from it. The password then lives only
# in the secret file and in this process tree's environment: never in compose.yaml, in
# `docker inspect`, in process arguments, or on the command line of a `ray job submit`, whose
# driver runs on the head and inherits this environment.
set -eu

if [ -z "${HPSEARCH_STORAGE:-}" ] && [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
    HPSEARCH_STORAGE="$(python - <<'PY'
import os
import sys
from urllib.parse import quote

path = os.environ["POSTGRES_PASSWORD_FILE"]
try:
    with open(path, encoding="utf-8") as f:
        password = f.read().rstrip("\r\n")
except OSError as e:
    sys.exit(f"entrypoint: POSTGRES_PASSWORD_FILE {path}: cannot read it ({e.strerror})")
if not password:
    sys.exit(f"entrypoint: POSTGRES_PASSWORD_FILE {path}: the file is empty")
user = quote(os.environ.get("POSTGRES_USER", "hpsearch"), safe="")
host = os.environ.get("POSTGRES_HOST", "postgres")
port = os.environ.get("POSTGRES_PORT", "5432")
database = quote(os.environ.get("POSTGRES_DB", "hpsearch"), safe="")
print(f"postgresql+psycopg://{user}:{quote(password, safe='')}@{host}:{port}/{database}")
PY
)"
    export HPSEARCH_STORAGE
fi

exec "$@"
