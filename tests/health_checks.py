"""Checks of a site's own, plugged in through ``MONITORING['HEALTH_CHECKS']`` in the tests."""

from monitoring.health import Degraded, provider


def payments_api() -> str:
    return "answered in 12 ms"


def search_index() -> None:
    raise Degraded("index 40 minutes behind")


@provider
def queues() -> dict:
    def fine() -> None:
        return None

    def broken() -> None:
        raise ConnectionError("broker at 127.0.0.1:5999 refused the connection")

    return {"queue:mail": fine, "queue:thumbnails": broken}
