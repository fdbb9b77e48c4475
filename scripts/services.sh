#!/usr/bin/env bash
# Make sure the services the tests need are running, and write their addresses to .services/env.
#
# PostgreSQL: the machine's server on 127.0.0.1:5432 when it answers; otherwise start the
# machine's cluster; otherwise a throwaway cluster of our own (trust auth, loopback only) in
# .services/pg, installing PostgreSQL from Debian's packages if it is missing.
# (The S3-compatible server is started by the tests themselves: it lives in .venv.)
set -euo pipefail
cd "$(dirname "$0")/.."
state=.services
mkdir -p "$state"
py=.venv/bin/python

answers() {  # answers URL -> exit 0 when PostgreSQL accepts a connection there
  "$py" - "$1" <<'PY' 2>/dev/null
import sys, psycopg
psycopg.connect(sys.argv[1], connect_timeout=3).close()
PY
}

pg_url=${LL_TEST_POSTGRES:-postgresql://postgres@127.0.0.1:5432/postgres}
if ! answers "$pg_url"; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ] && [ "$(id -u)" = 0 ]; then
    echo "services: starting the machine's PostgreSQL cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
    for _ in $(seq 1 20); do answers "$pg_url" && break; sleep 0.5; done
  fi
fi
if ! answers "$pg_url"; then
  port=55432
  pg_url="postgresql://postgres@127.0.0.1:${port}/postgres"
  if ! answers "$pg_url"; then
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    if [ -z "$bindir" ]; then
      echo "services: installing PostgreSQL (Debian package)"
      apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=600 postgresql >/dev/null
      bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    fi
    data="$PWD/$state/pg"
    as_pg=()
    if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi
    if [ ! -f "$data/PG_VERSION" ]; then
      echo "services: creating a throwaway PostgreSQL cluster in $data"
      mkdir -p "$data"
      [ "$(id -u)" = 0 ] && chown postgres "$data" "$state"
      "${as_pg[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust >/dev/null
    fi
    echo "services: starting PostgreSQL on 127.0.0.1:${port}"
    "${as_pg[@]}" "$bindir/pg_ctl" -D "$data" -l "$data/log" -w \
      -o "-p ${port} -k /tmp -c listen_addresses=127.0.0.1" start >/dev/null
  fi
  answers "$pg_url" || { echo "services: PostgreSQL did not come up; see $state/pg/log" >&2; exit 1; }
fi
echo "services: PostgreSQL at $pg_url"
printf 'LL_TEST_POSTGRES=%s\n' "$pg_url" > "$state/env"
