#!/usr/bin/env bash
# Makes sure the servers the test suite talks to run on 127.0.0.1: PostgreSQL, MariaDB,
# Redis and memcached, plus Debian's prometheus (and promtool), prometheus-alertmanager,
# systemd-analyze and chromium. Installs missing Debian packages when run as root.
# In CI (CI=true) anything that cannot be provided is a failure, never a skip.
set -euo pipefail

log() { printf '[services] %s\n' "$*"; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

APT_UPDATED=0
apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    die "missing $*; install these Debian packages (as root: apt-get install $*) and run again"
  fi
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

wait_for() {  # wait_for DESCRIPTION COMMAND...
  local what=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  die "$what did not start"
}

ensure_promtool() {
  command -v promtool >/dev/null || apt_install prometheus
  # The package starts nothing here (no systemd), but stop a server it may have started.
  command -v promtool >/dev/null || die "promtool is missing"
  command -v prometheus >/dev/null || die "prometheus is missing"
}

ensure_alertmanager() {
  # Debian's Alertmanager, started by the tests themselves on 127.0.0.1.
  command -v prometheus-alertmanager >/dev/null || apt_install prometheus-alertmanager
  command -v prometheus-alertmanager >/dev/null || die "prometheus-alertmanager is missing"
}

ensure_chromium() {
  # Debian's Chromium for the browser tests (driven by Playwright; no browser download).
  command -v chromium >/dev/null || apt_install chromium fonts-liberation
  command -v chromium >/dev/null || die "chromium is missing"
}

ensure_systemd_analyze() {
  # Verifies docs/deploy/monitoring.service; the package starts nothing in a container.
  command -v systemd-analyze >/dev/null || apt_install systemd
  command -v systemd-analyze >/dev/null || die "systemd-analyze is missing"
}

ensure_postgres() {
  local host=${MONITORING_TEST_PG_HOST:-127.0.0.1} port=${MONITORING_TEST_PG_PORT:-5432}
  if pg_isready -q -h "$host" -p "$port" 2>/dev/null; then return 0; fi
  if ! command -v pg_ctlcluster >/dev/null; then
    apt_install postgresql postgresql-client
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for "PostgreSQL" pg_isready -q -h "$host" -p "$port"
  # A fresh Debian cluster asks for a password on TCP; give the test user one.
  if ! PGPASSWORD=${MONITORING_TEST_PG_PASSWORD:-} psql -h "$host" -p "$port" -U postgres \
      -tAc 'select 1' >/dev/null 2>&1; then
    su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
    echo "MONITORING_TEST_PG_PASSWORD=postgres" >> "${SERVICES_ENV:-/dev/null}"
  fi
}

mysql_as_test_user() {  # mysql_as_test_user ARGS...: the client as the suite will connect
  MYSQL_PWD=${MONITORING_TEST_MYSQL_PASSWORD:-} mysql -h 127.0.0.1 \
    -P "${MONITORING_TEST_MYSQL_PORT:-3306}" -u "${MONITORING_TEST_MYSQL_USER:-root}" "$@"
}

ensure_mariadb() {
  if mysql_as_test_user -e 'select 1' >/dev/null 2>&1; then return 0; fi
  if ! command -v mariadbd >/dev/null && ! command -v mysqld >/dev/null; then
    apt_install mariadb-server mariadb-client
  fi
  if ! mysqladmin ping -h 127.0.0.1 --silent 2>/dev/null; then
    log "starting MariaDB"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    (mysqld_safe --bind-address=127.0.0.1 >/dev/null 2>&1 &)
    wait_for "MariaDB" mysqladmin ping -h 127.0.0.1 --silent
  fi
  # A fresh Debian server lets root in through its socket only; give the tests a user.
  if ! mysql_as_test_user -e 'select 1' >/dev/null 2>&1; then
    mysql -e "CREATE USER IF NOT EXISTS 'monitoring'@'%' IDENTIFIED BY 'monitoring';
              GRANT ALL ON *.* TO 'monitoring'@'%'; FLUSH PRIVILEGES;"
    printf '%s\n' MONITORING_TEST_MYSQL_USER=monitoring MONITORING_TEST_MYSQL_PASSWORD=monitoring \
      >> "${SERVICES_ENV:-/dev/null}"
  fi
}

ensure_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then return 0; fi
  command -v redis-server >/dev/null || apt_install redis-server
  log "starting redis-server"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for "Redis" bash -c 'redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG'
}

ensure_memcached() {
  if (exec 3<>/dev/tcp/127.0.0.1/11211) 2>/dev/null; then return 0; fi
  command -v memcached >/dev/null || apt_install memcached
  log "starting memcached"
  memcached -d -u "$(id -un)" -l 127.0.0.1 -p 11211 -m 64
  wait_for "memcached" bash -c '(exec 3<>/dev/tcp/127.0.0.1/11211)'
}

ensure_promtool
ensure_systemd_analyze
ensure_alertmanager
ensure_chromium
ensure_postgres
ensure_mariadb
ensure_redis
ensure_memcached
log "PostgreSQL, MariaDB, Redis, memcached, prometheus, promtool, prometheus-alertmanager, systemd-analyze and chromium are ready"
