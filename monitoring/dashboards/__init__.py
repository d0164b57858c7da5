"""The Grafana dashboard shipped with the app, ``grafana_django_orm.json``.

``build.py`` generates it (``python -m monitoring.dashboards.build``), ``queries.py``
holds the PromQL of its panels; the JSON file is what users import.
"""

from __future__ import annotations

from importlib.resources import files

DASHBOARD_FILE = "grafana_django_orm.json"


def dashboard_text() -> str:
    """The dashboard JSON as shipped (ready for Grafana's Import dashboard)."""
    return (files(__name__) / DASHBOARD_FILE).read_text(encoding="utf-8")
