#!/usr/bin/env bash
# Installs what the tests need and runs the whole suite: ruff, mypy, then pytest on every
# supported Django release (4.2 LTS and 5.2 LTS), each in its own virtualenv under .venvs/.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENVS=${MONITORING_VENVS:-$PWD/.venvs}
DJANGO_SERIES=${DJANGO_SERIES:-"4.2 5.2"}
export SERVICES_ENV=$(mktemp)
# Test databases named for this run: concurrent runs on one PostgreSQL do not collide.
export MONITORING_TEST_RUN_ID=${MONITORING_TEST_RUN_ID:-$$}
trap 'rm -f "$SERVICES_ENV"' EXIT

bash scripts/services.sh
set -a; . "$SERVICES_ENV"; set +a

venv_for() {  # venv_for SERIES -> prints the virtualenv's path, creating it if needed
  local series=$1 venv="$VENVS/django-$1"
  if [ ! -x "$venv/bin/python" ]; then
    "$PYTHON" -m venv "$venv" >&2
  fi
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    -e ".[test,lint,bench]" "Django~=$series.0" >&2
  echo "$venv"
}

run_pytest() {  # run_pytest VENV LABEL
  local venv=$1 label=$2 status=0
  echo "== pytest on $label"
  mkdir -p test-output
  "$venv/bin/python" -m pytest -n "${PYTEST_WORKERS:-auto}" \
    --junitxml "test-output/junit-$label.xml" "${@:3}" || status=$?
  if [ "$status" = 5 ]; then
    echo "pytest collected no tests on $label: failing" >&2
    return 1
  fi
  return "$status"
}

latest=""
for series in $DJANGO_SERIES; do
  venv=$(venv_for "$series")
  latest=$venv
  run_pytest "$venv" "django-$series" "$@"
done

echo "== ruff"
"$latest/bin/ruff" check .
"$latest/bin/ruff" format --check .
echo "== mypy"
PYTHONPATH=.:example "$latest/bin/mypy"
echo "All checks passed."
