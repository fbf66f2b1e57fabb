#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and benchmarks: its own cluster in a temporary
# folder, listening on 127.0.0.1 only, trusting local connections, gone after `stop`.
#
#   scripts/postgres_throwaway.sh install          # Debian's postgresql package, if missing
#   scripts/postgres_throwaway.sh start DIR PORT   # prints the database URL on stdout
#   scripts/postgres_throwaway.sh kill DIR         # SIGKILL the server (crash tests)
#   scripts/postgres_throwaway.sh restart DIR      # start it again on its port, same data
#   scripts/postgres_throwaway.sh stop DIR         # stop it and delete DIR
#
# PostgreSQL refuses to run as root, so as root every server command runs as the
# `postgres` user that Debian's package creates (DIR is handed to that user).
set -euo pipefail

bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$d" ] || [ ! -x "$d/pg_ctl" ]; then
    echo "PostgreSQL server programs not found under /usr/lib/postgresql/*/bin;" \
         "run: scripts/postgres_throwaway.sh install" >&2
    exit 3
  fi
  echo "$d"
}

as_owner() {  # run a server program as the cluster's owner
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd=${1:-}
case "$cmd" in
  install)
    if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then exit 0; fi
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    echo "== installing Debian's PostgreSQL for the postgres test tier" >&2
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    # Debian starts a system cluster on install; the tests use their own, so stop it.
    $SUDO service postgresql stop >/dev/null 2>&1 || true
    ;;
  start)
    dir=${2:?DIR}; port=${3:?PORT}
    bin=$(bindir)
    mkdir -p "$dir"
    chmod 700 "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    echo "$port" >"$dir/port"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres wildlife
    echo "postgresql://postgres@127.0.0.1:$port/wildlife"
    ;;
  kill)
    dir=${2:?DIR}
    pid=$(head -1 "$dir/data/postmaster.pid")
    kill -9 "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    ;;
  restart)
    dir=${2:?DIR}; port=$(cat "$dir/port")
    bin=$(bindir)
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    ;;
  stop)
    dir=${2:?DIR}
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_owner "$(bindir)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 install | start DIR PORT | kill DIR | restart DIR | stop DIR" >&2
    exit 2
    ;;
esac
