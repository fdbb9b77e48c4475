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

# Chromium for the browser tests (tests/browser): Debian's, never Playwright's own download.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "services: installing Chromium (Debian package) for the browser tests"
    apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=600 chromium >/dev/null
  else
    echo "services: /usr/bin/chromium is missing; the browser tests will be skipped" \
      "(install it with: sudo apt-get install chromium)" >&2
  fi
fi
# Redis for the feature store's online-store tests: the machine's on 127.0.0.1:6379 when it
# answers, else one started here (no persistence, loopback only), installed from Debian if missing.
redis_url=${LL_TEST_REDIS:-redis://127.0.0.1:6379/0}
redis_answers() { "$py" -c 'import sys, redis; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=2).ping()' "$1" 2>/dev/null; }
if ! redis_answers "$redis_url"; then
  if ! command -v redis-server >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "services: installing Redis (Debian package)"
    apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=600 redis-server >/dev/null
  fi
  echo "services: starting Redis on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  for _ in $(seq 1 20); do redis_answers "$redis_url" && break; sleep 0.25; done
  redis_answers "$redis_url" || { echo "services: Redis did not come up" >&2; exit 1; }
fi
echo "services: Redis at $redis_url"
printf 'LL_TEST_POSTGRES=%s\nLL_TEST_REDIS=%s\n' "$pg_url" "$redis_url" > "$state/env"
