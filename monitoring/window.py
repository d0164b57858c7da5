"""A read of the store over a time window, with the questions every reader asks of it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .recording.aggregate import Bucket, Histogram, SeriesKey
from .recording.metrics import Metric


def _matches(metric: Metric, labels: tuple[str, ...], match: dict[str, str]) -> bool:
    return all(labels[metric.labels.index(name)] == value for name, value in match.items())


@dataclass
class Window:
    """Everything recorded fleet-wide between ``start`` and ``end`` (epoch seconds)."""

    start: float
    end: float
    data: Bucket

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def series(self, metric: Metric, **match: str) -> Iterator[tuple[dict[str, str], Any]]:
        """Yield (labels, value) of ``metric``'s series whose labels equal ``match``.

        The value is a float for counters and maxima, a :class:`Histogram` for histograms.
        """
        source: dict[SeriesKey, Any]
        if metric.kind == "histogram":
            source = self.data.histograms
        else:
            source = self.data.maxima if metric.kind == "maximum" else self.data.counters
        for (name, labels), value in source.items():
            if name == metric.name and _matches(metric, labels, match):
                yield dict(zip(metric.labels, labels, strict=True)), value

    def total(self, metric: Metric, **match: str) -> float:
        """Sum of a counter's series matching ``match``."""
        return float(sum(value for _, value in self.series(metric, **match)))

    def histogram(self, metric: Metric, **match: str) -> Histogram | None:
        """Merge of a histogram's series matching ``match``, or None when there is none."""
        merged: Histogram | None = None
        for _, hist in self.series(metric, **match):
            assert isinstance(hist, Histogram)
            if merged is None:
                merged = hist.copy()
            else:
                merged.merge(hist)
        return merged

    def by(self, metric: Metric, label: str, **match: str) -> dict[str, float | Histogram]:
        """Group ``metric`` by one label: counters sum, histograms merge, maxima max."""
        groups: dict[str, float | Histogram] = {}
        for labels, value in self.series(metric, **match):
            key = labels[label]
            current = groups.get(key)
            if isinstance(value, Histogram):
                if current is None:
                    groups[key] = value.copy()
                else:
                    assert isinstance(current, Histogram)
                    current.merge(value)
            elif metric.kind == "maximum":
                groups[key] = max(float(current or 0), float(value))  # type: ignore[arg-type]
            else:
                groups[key] = float(current or 0) + float(value)  # type: ignore[arg-type]
        return groups

    def statement(self, fingerprint: str) -> str:
        """The normalised SQL of a fingerprint id seen in this window."""
        return self.data.statements.get(fingerprint, "")
