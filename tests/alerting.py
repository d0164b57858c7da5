"""Windows built from described traffic, for the alert engine's tests (no store, no clock)."""

from __future__ import annotations

from monitoring import config
from monitoring.alerts.engine import Evaluation, State, evaluate_rules
from monitoring.alerts.rules import Rule, load_rules
from monitoring.recording import metrics as m
from monitoring.recording.aggregate import Bucket, Histogram
from monitoring.window import Window


class Traffic:
    """Describe traffic, get a window: ``Traffic().requests("/a/", 20, status=500).window()``."""

    def __init__(self) -> None:
        self.bucket = Bucket(0, 300)

    def _hist(self, metric: m.Metric, labels: tuple[str, ...]) -> Histogram:
        key = (metric.name, labels)
        if key not in self.bucket.histograms:
            bounds = config.get_config()[metric.buckets or "REQUEST_DURATION_BUCKETS"]
            self.bucket.histograms[key] = Histogram(bounds, 0.01)
        return self.bucket.histograms[key]

    def _count(self, metric: m.Metric, labels: tuple[str, ...], amount: float) -> None:
        key = (metric.name, labels)
        self.bucket.counters[key] = self.bucket.counters.get(key, 0) + amount

    def requests(
        self,
        route: str,
        count: int,
        status: int = 200,
        seconds: float = 0.05,
        queries: int = 0,
    ) -> Traffic:
        for _ in range(count):
            self._hist(m.REQUEST_DURATION, ("GET", route)).observe(seconds)
            self._hist(m.QUERIES_PER_REQUEST, (route,)).observe(queries)
        self._count(m.REQUESTS, ("GET", route, str(status)), count)
        return self

    def queries(self, count: int, seconds: float) -> Traffic:
        hist = self._hist(m.FINGERPRINT_DURATION, ("default", "select", "f1"))
        for _ in range(count):
            hist.observe(seconds)
        return self

    def cache(self, hits: int, misses: int, route: str = "/a/") -> Traffic:
        for result, amount in (("hit", hits), ("miss", misses)):
            self._count(m.CACHE_GETS, ("default", "p", result), amount)
            self._count(m.CACHE_ROUTE_GETS, (route, result), amount)
        return self

    def connection_errors(self, count: int) -> Traffic:
        self._count(m.DB_CONNECTION_ERRORS, ("default", "refused"), count)
        return self

    def window(self) -> Window:
        return Window(0, 300, self.bucket)


QUIET = Traffic().requests("/a/", 100).window()


def rule(name: str) -> Rule:
    return next(r for r in load_rules() if r.name == name)


def run(
    rules: list[Rule], window: Window, previous: dict | None = None, now: float = 1000.0
) -> Evaluation:
    return evaluate_rules(rules, {r.window: window for r in rules}, previous or {}, now)


def states_after(
    rules: list[Rule], windows: list[Window], start: float = 1000.0, step: float = 60.0
) -> tuple[dict[tuple[str, str], State], list]:
    """Evaluate the windows one interval apart; return the last states and every transition."""
    states: dict[tuple[str, str], State] = {}
    transitions = []
    for index, window in enumerate(windows):
        result = run(rules, window, states, start + index * step)
        states = result.states
        transitions += result.transitions
    return states, transitions


def write_traffic(store, traffic: Traffic, at: float) -> None:  # type: ignore[no-untyped-def]
    """Write the traffic into ``store`` as the 10-second bucket that holds ``at``."""
    start = int(at) // 10 * 10
    bucket = Bucket(start, 10)
    bucket.counters = dict(traffic.bucket.counters)
    bucket.histograms = {key: hist.copy() for key, hist in traffic.bucket.histograms.items()}
    store.write([bucket])
