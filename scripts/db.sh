#!/usr/bin/env bash
# Prints a DATABASE_URL that answers, creating the database if it is missing.
#   1. $DATABASE_URL, or the default postgres://postgres@localhost:5432/xbot?sslmode=disable;
#   2. if no server answers there and PostgreSQL's binaries are installed, a private cluster under
#      .data/postgres on a free port (started as an unprivileged user when run as root);
#   3. otherwise one line saying what to do, and exit 1.
# Diagnostics go to stderr; only the URL goes to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

default_url="postgres://postgres@localhost:5432/xbot?sslmode=disable"
url="${DATABASE_URL:-$default_url}"
say() { echo "db: $*" >&2; }

need_psql() {
  if ! command -v psql >/dev/null 2>&1; then
    say "psql not found: install the PostgreSQL client (apt-get install postgresql-client) or set DATABASE_URL to a database that exists"
    exit 1
  fi
}

# maintenance_url swaps the database name for 'postgres' so we can create the target one.
maintenance_url() { python3 - "$1" <<'PY' 2>/dev/null || echo "$1" | sed -E 's#(://[^/]*/)[^?]*#\1postgres#'
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/postgres")))
PY
}
db_name() { echo "$1" | sed -E 's#^[^/]*//[^/]*/([^?]*).*#\1#'; }

ensure_database() {
  local target="$1" name admin
  name=$(db_name "$target")
  [ -n "$name" ] || name=postgres
  admin=$(maintenance_url "$target")
  if ! psql "$admin" -XtAc "SELECT 1 FROM pg_database WHERE datname = '$name'" 2>/dev/null | grep -q 1; then
    say "creating database $name"
    psql "$admin" -Xqc "CREATE DATABASE \"$name\"" >/dev/null 2>&1 || true
  fi
  psql "$target" -XtAc "SELECT 1" >/dev/null 2>&1
}

need_psql
if psql "$(maintenance_url "$url")" -XtAc "SELECT 1" >/dev/null 2>&1; then
  ensure_database "$url" || { say "server answers at ${url%%\?*} but the database cannot be created or reached"; exit 1; }
  echo "$url"
  exit 0
fi
if [ -n "${DATABASE_URL:-}" ]; then
  say "DATABASE_URL is set but no server answers there; start it or unset DATABASE_URL"
  exit 1
fi

# No server: start a private cluster if PostgreSQL's server binaries are installed.
bindir=""
if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then bindir=$(pg_config --bindir); fi
if [ -z "$bindir" ]; then
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && bindir="$d"; done
fi
if [ -z "$bindir" ]; then
  say "no PostgreSQL server answers at localhost:5432 and none is installed: install one (apt-get install postgresql) or set DATABASE_URL"
  exit 1
fi

data="$PWD/.data/postgres"
mkdir -p "$data"
runas=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown -R postgres "$PWD/.data"
  runas=(runuser -u postgres --)
fi
port_file="$data/port"
if [ ! -f "$data/cluster/PG_VERSION" ]; then
  say "initialising a private cluster in .data/postgres"
  "${runas[@]}" "$bindir/initdb" -D "$data/cluster" -U postgres --auth=trust >/dev/null
fi
port=$(cat "$port_file" 2>/dev/null || true)
if ! "${runas[@]}" "$bindir/pg_ctl" -D "$data/cluster" status >/dev/null 2>&1; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  echo "$port" > "$port_file"
  say "starting private PostgreSQL on 127.0.0.1:$port"
  "${runas[@]}" "$bindir/pg_ctl" -D "$data/cluster" -l "$data/log" -w \
    -o "-p $port -k $data -c listen_addresses=127.0.0.1" start >/dev/null
fi
url="postgres://postgres@127.0.0.1:$port/xbot?sslmode=disable"
ensure_database "$url" || { say "private cluster started but database xbot is unreachable (see .data/postgres/log)"; exit 1; }
echo "$url"
