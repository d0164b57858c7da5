#!/usr/bin/env bash
# Demo: the example shop under gunicorn (three workers) with monitoring, its background
# service (run_monitoring) and synthetic traffic. Usage, from any directory:
#   bash scripts/demo.sh
#   PORT=8000          port on 127.0.0.1 to serve on
#   DEMO_DURATION=N    stop by itself after N seconds (default: run until Ctrl-C)
#   DEMO_PASSWORD=...  password of the demo's staff user "demo" (default: a random one,
#                      made on the first run and kept in .venvs/demo/demo-password)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${PORT:-8000}"
DEMO_DURATION="${DEMO_DURATION:-}"
SITE="http://127.0.0.1:${PORT}"
VENV="$REPO_ROOT/.venvs/demo"
PY="$VENV/bin/python"
MANAGE=("$PY" "$REPO_ROOT/example/manage.py")
SERVER_LOG="$VENV/gunicorn.log"
SERVICE_LOG="$VENV/service.log"
DEMO_USER="demo"
PASSWORD_FILE="$VENV/demo-password"
# The example's own settings, whatever the calling environment says.
export DJANGO_SETTINGS_MODULE=exampleproject.settings
SERVER_PID=""
SERVICE_PID=""
TRAFFIC_PID=""
DEMO_PASS=""
# The background service's cycle (and the health check's idea of "stale"), shorter than
# production's 60 s so that the demo's alerts move quickly.
export METRICS_COLLECTION_INTERVAL="${METRICS_COLLECTION_INTERVAL:-10}"

log() { printf '==> %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

if [[ -n "$DEMO_DURATION" && ! "$DEMO_DURATION" =~ ^[0-9]+$ ]]; then
    die "DEMO_DURATION must be a whole number of seconds, got '$DEMO_DURATION'"
fi
[[ "$PORT" =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$PORT'"

# An HTTP GET that ignores proxy settings; exit status 0 when the server answers at all.
http_get() {
    "$PY" - "$1" <<'PYEOF'
import sys, urllib.error, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    opener.open(sys.argv[1], timeout=1).close()
except urllib.error.HTTPError:
    pass  # an error status still means the server is up
except Exception:
    sys.exit(1)
PYEOF
}

# Exit status 0 when something listens on 127.0.0.1:$1.
port_in_use() {
    "$PY" -c 'import socket, sys
with socket.socket() as s:
    s.settimeout(1)
    sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

setup_venv() {
    if [[ ! -x "$PY" ]]; then
        log "Creating virtualenv .venvs/demo"
        python3 -m venv "$VENV"
    fi
    # Reinstall only when the project's metadata changed; the install is editable anyway.
    local stamp="$VENV/.demo-installed" want
    want="$(cksum < "$REPO_ROOT/pyproject.toml")"
    if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
        log "Installing the repository (editable) and gunicorn"
        (cd "$REPO_ROOT" && "$PY" -m pip install -qq --disable-pip-version-check -e . gunicorn)
        printf '%s\n' "$want" > "$stamp"
    fi
}

prepare_db() {
    log "Migrating and seeding example/db.sqlite3"
    "${MANAGE[@]}" migrate --noinput -v 0
    "${MANAGE[@]}" seed_shop
}

# The staff user who logs in to the dashboard and the admin: created when missing, and
# given the password printed below (this database only ever serves the demo on loopback).
ensure_demo_user() {
    local password="${DEMO_PASSWORD:-}"
    if [[ -z "$password" && -s "$PASSWORD_FILE" ]]; then
        password="$(cat "$PASSWORD_FILE")"
    fi
    if [[ -z "$password" ]]; then
        password="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(12))')"
        (umask 077 && printf '%s\n' "$password" > "$PASSWORD_FILE")
    fi
    DEMO_PASS="$password"
    local state
    # -v 0: Django 5.2's shell would otherwise report its automatic imports on stdout.
    state="$(DEMO_USER="$DEMO_USER" DEMO_PASS="$password" "${MANAGE[@]}" shell -v 0 -c '
import os
from django.contrib.auth import get_user_model
user = get_user_model().objects.filter(username=os.environ["DEMO_USER"]).first()
if user is None:
    print("missing")
elif not user.check_password(os.environ["DEMO_PASS"]):
    user.set_password(os.environ["DEMO_PASS"])
    user.save(update_fields=["password"])
    print("password set")
else:
    print("ok")
' | tail -n 1)"
    if [[ "$state" == "missing" ]]; then
        log "Creating the staff user '$DEMO_USER' for the dashboard and the admin"
        DJANGO_SUPERUSER_USERNAME="$DEMO_USER" DJANGO_SUPERUSER_PASSWORD="$password" \
            DJANGO_SUPERUSER_EMAIL="demo@example.com" \
            "${MANAGE[@]}" createsuperuser --noinput > /dev/null
    fi
}

start_server() {
    if port_in_use "$PORT"; then
        die "port $PORT on 127.0.0.1 is already in use; set PORT to another port"
    fi
    log "Starting gunicorn on $SITE (log: .venvs/demo/gunicorn.log)"
    # A session of its own keeps the terminal's Ctrl-C away from gunicorn, so that cleanup
    # can stop the traffic before the server (else the last requests fail as errors).
    local detach=()
    if command -v setsid > /dev/null; then
        detach=(setsid)
    fi
    (cd "$REPO_ROOT" && exec ${detach[@]+"${detach[@]}"} "$VENV/bin/gunicorn" --chdir example \
        --bind "127.0.0.1:$PORT" --workers 3 --graceful-timeout 5 \
        exampleproject.wsgi) > "$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 150); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            tail -n 20 "$SERVER_LOG" >&2
            die "gunicorn exited during start-up (see above)"
        fi
        http_get "$SITE/health-of-shop/" && return 0
        sleep 0.2
    done
    die "gunicorn did not answer within 30 s; see $SERVER_LOG"
}

start_service() {
    log "Starting the monitoring service: run_monitoring every ${METRICS_COLLECTION_INTERVAL} s (log: .venvs/demo/service.log)"
    "${MANAGE[@]}" run_monitoring > "$SERVICE_LOG" 2>&1 &
    SERVICE_PID=$!
}

start_traffic() {
    local limit=()
    if [[ -n "$DEMO_DURATION" ]]; then
        limit=(--duration "$DEMO_DURATION")
    fi
    # ${limit[@]+...}: an empty array is "unbound" under set -u in bash before 4.4.
    "${MANAGE[@]}" generate_traffic --base-url "$SITE" --concurrency 4 ${limit[@]+"${limit[@]}"} &
    TRAFFIC_PID=$!
}

stop_pid() {
    local pid="$1"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
}

cleanup() {
    trap - INT TERM HUP EXIT
    # Traffic first, so that it does not count the server's shutdown as errors.
    stop_pid "$TRAFFIC_PID"
    stop_pid "$SERVICE_PID"
    stop_pid "$SERVER_PID"
    if [[ -n "$SERVER_PID" ]]; then
        log "Stopped."
    fi
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup; exit 129' HUP
trap cleanup EXIT

setup_venv
prepare_db
ensure_demo_user
start_server
start_service
start_traffic
cat <<EOT

  Example shop:  $SITE/
  Dashboard: $SITE/monitoring/  (log in as $DEMO_USER / $DEMO_PASS)
  Metrics:       $SITE/monitoring/metrics/?format=prometheus
  Summary:       $SITE/monitoring/metrics/?window=5m
  Health:        $SITE/monitoring/health/
  Alerts:        $SITE/monitoring/alerts/   (service log: .venvs/demo/service.log)

EOT
if [[ -n "$DEMO_DURATION" ]]; then
    log "Running for ${DEMO_DURATION} s (Ctrl-C stops earlier)"
    sleep "$DEMO_DURATION"
    # Give the generator a moment to print its own final summary.
    for _ in $(seq 1 25); do kill -0 "$TRAFFIC_PID" 2>/dev/null || break; sleep 0.2; done
else
    log "Traffic is running; press Ctrl-C to stop"
    wait "$SERVER_PID"
fi
