from __future__ import annotations

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.cache import caches
        from django.db import connections

        from . import checks  # noqa: F401  (registers the system checks)
        from .config import get_config
        from .recording.cache import install_cache_instrumentation
        from .recording.db import install_database_instrumentation
        from .runtime import get_recorder

        install_database_instrumentation(
            connections, get_recorder, lambda alias: alias in get_config()["EXCLUDE_DATABASES"]
        )
        install_cache_instrumentation(
            caches, get_recorder, lambda alias: alias in get_config()["EXCLUDE_CACHES"]
        )
