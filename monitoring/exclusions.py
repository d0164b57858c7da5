"""Which request paths are not recorded: the monitoring endpoints and ``EXCLUDE_PATHS``."""

from __future__ import annotations

import re
from functools import lru_cache

from django.urls import NoReverseMatch, reverse

from . import config


@lru_cache(maxsize=1)
def _excluded_pattern() -> re.Pattern[str] | None:
    patterns = list(config.get_config()["EXCLUDE_PATHS"])
    try:
        # The monitoring endpoints, wherever the site includes monitoring.urls.
        prefix = reverse("monitoring:healthz")[: -len("healthz/")]
        patterns.append("^" + re.escape(prefix))
    except NoReverseMatch:
        pass
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


def is_excluded(path: str) -> bool:
    """True when requests to ``path`` must not be recorded."""
    pattern = _excluded_pattern()
    return pattern is not None and pattern.match(path) is not None


config.on_reload(_excluded_pattern.cache_clear)
