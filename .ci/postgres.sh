#!/usr/bin/env bash
# A throwaway PostgreSQL server for the rights tests (registry, consent, ledger on PostgreSQL).
#
#   .ci/postgres.sh install       install Debian's postgresql if its server binaries are missing
#                                 (apt-get, as root; says what to do otherwise)
#   eval "$(.ci/postgres.sh start)"
#                                 start a server in a new temporary folder, as an unprivileged user
#                                 (nobody when run as root), listening only on a Unix socket in that
#                                 folder (no TCP port); prints `export ATELIER_TEST_PG_URL=...` and
#                                 `export ATELIER_TEST_PG_DIR=...`
#   .ci/postgres.sh stop [DIR]    stop that server and remove its folder (default $ATELIER_TEST_PG_DIR)
#
# The tests start and stop a server through this script themselves when ATELIER_TEST_PG_URL is not
# set (tests/engine/rights/conftest.py); in CI (CI=true) a test that needs the server and cannot
# start it fails, printing the reason.
set -euo pipefail

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  return 1
}

as_server_user() {
  # postgres refuses to run as root: run it as nobody then
  if [ "$(id -u)" = 0 ]; then
    if command -v runuser >/dev/null 2>&1; then runuser -u nobody -- "$@"; else setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; fi
  else
    "$@"
  fi
}

cmd=${1:-}
case "$cmd" in
  install)
    if pg_bin >/dev/null; then echo "postgresql server found in $(pg_bin)" >&2; exit 0; fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing Debian's postgresql (apt-get)" >&2
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
      pg_bin >/dev/null || { echo "error: postgresql installed but no initdb/pg_ctl under /usr/lib/postgresql/*/bin" >&2; exit 1; }
    else
      echo "error: postgresql server binaries not found; install them: apt-get install postgresql (as root)" >&2
      exit 1
    fi
    ;;
  start)
    bin=$(pg_bin) || { echo "error: postgresql server binaries not found (run: .ci/postgres.sh install)" >&2; exit 1; }
    dir=$(mktemp -d "${TMPDIR:-/tmp}/atelier-pg.XXXXXX")
    chmod 0755 "$dir"
    if [ "$(id -u)" = 0 ]; then chown nobody:nogroup "$dir"; fi
    as_server_user "$bin/initdb" -D "$dir/data" -U atelier --auth=trust --encoding=UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
      || { echo "error: initdb failed:" >&2; cat "$dir/initdb.log" >&2; exit 1; }
    as_server_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses='' -k $dir -c fsync=off -c full_page_writes=off -c max_connections=60" start >/dev/null \
      || { echo "error: the server did not start:" >&2; cat "$dir/server.log" >&2; exit 1; }
    "$bin/createdb" -h "$dir" -U atelier atelier_test \
      || { echo "error: createdb failed" >&2; exit 1; }
    echo "export ATELIER_TEST_PG_DIR='$dir'"
    echo "export ATELIER_TEST_PG_URL='postgresql+psycopg://atelier@/atelier_test?host=$dir'"
    ;;
  stop)
    dir=${2:-${ATELIER_TEST_PG_DIR:-}}
    [ -n "$dir" ] && [ -d "$dir" ] || { echo "error: no server folder given (.ci/postgres.sh stop DIR)" >&2; exit 1; }
    bin=$(pg_bin) || exit 1
    as_server_user "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *)
    echo "usage: .ci/postgres.sh install | start | stop [DIR]" >&2
    exit 2
    ;;
esac
