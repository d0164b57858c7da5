"""Buckets as compact JSON documents, the form the database and Redis stores keep them in.

A document is a plain JSON object::

    {"c": {series: value},                 counters (add on merge)
     "m": {series: value},                 maxima (max on merge)
     "h": {series: {"b": bounds, "n": counts per bound and +Inf, "c": count, "s": sum,
                    "a": sketch accuracy or null, "o": first bin key,
                    "k": [bin counts from key "o" on], "z": count in the zero bin}},
     "q": [[duration, timestamp, fingerprint, alias, route], ...],   slowest queries
     "t": {fingerprint: normalised SQL}}

A series is the metric name and its label values joined by ``SEP``. Sketch bins are a
dense run of counters from the lowest key: a route's latencies fill a contiguous range of
DDSketch keys, so this is several times smaller (and faster to parse) than a key per bin.
Stores merge documents, not buckets (:func:`merge_into`): adding two runs of bins is a
slice of C-level additions rather than a dict update per bin, which is what keeps a 24 h
window read and a flush into a full hour bucket cheap.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from operator import add
from typing import Any

import orjson

from ..recording.aggregate import Bucket, Histogram, SeriesKey, SlowQuery
from ..recording.sketch import ZERO_KEY, Bins

SEP = "\x1f"

Document = dict[str, Any]


def series_name(key: SeriesKey) -> str:
    name, labels = key
    return SEP.join((name, *labels))


def series_key(name: str) -> SeriesKey:
    metric, *labels = name.split(SEP)
    return metric, tuple(labels)


def _encode_bins(bins: Bins, doc: dict[str, Any]) -> None:
    zero = bins.get(ZERO_KEY, 0)
    keys = [key for key in bins if key != ZERO_KEY]
    if zero:
        doc["z"] = zero
    if keys:
        low, high = min(keys), max(keys)
        dense = [0] * (high - low + 1)
        for key in keys:
            dense[key - low] = bins[key]
        doc["o"], doc["k"] = low, dense


def _decode_bins(doc: dict[str, Any]) -> Bins:
    bins: Bins = {}
    dense = doc.get("k") or ()
    low = int(doc.get("o", 0))
    for offset, count in enumerate(dense):
        if count:
            bins[low + offset] = int(count)
    zero = doc.get("z")
    if zero:
        bins[ZERO_KEY] = int(zero)
    return bins


def encode_histogram(hist: Histogram) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "b": list(hist.bounds),
        "n": list(hist.counts),
        "c": hist.count,
        "s": hist.sum,
        "a": hist.accuracy if hist.bins is not None else None,
    }
    if hist.bins:
        _encode_bins(hist.bins, doc)
    return doc


def decode_histogram(doc: dict[str, Any], keep_sketch: bool = True) -> Histogram:
    accuracy = doc.get("a") if keep_sketch else None
    hist = Histogram(tuple(float(b) for b in doc["b"]), accuracy)
    counts = [int(n) for n in (doc.get("n") or ())]
    if len(counts) == len(hist.counts):
        hist.counts = counts
    hist.count = int(doc.get("c", 0))
    hist.sum = float(doc.get("s", 0.0))
    if hist.bins is not None:
        hist.bins = _decode_bins(doc)
    return hist


def encode(bucket: Bucket, keep_sketches: bool = True) -> Document:
    """The JSON-ready document of ``bucket`` (sketches, slow queries and SQL optional)."""
    doc: Document = {
        "c": {series_name(key): value for key, value in bucket.counters.items()},
        "m": {series_name(key): value for key, value in bucket.maxima.items()},
        "h": {
            series_name(key): encode_histogram(hist if keep_sketches else hist.copy(False))
            for key, hist in bucket.histograms.items()
        },
    }
    if keep_sketches:
        doc["q"] = [
            [q.duration, q.timestamp, q.fingerprint, q.alias, q.route] for q in bucket.slow_queries
        ]
        doc["t"] = dict(bucket.statements)
    return doc


def decode(
    doc: Document, start: int, seconds: int, max_slow_queries: int = 50, keep_sketches: bool = True
) -> Bucket:
    """The :class:`Bucket` a document describes."""
    bucket = Bucket(start, seconds, max_slow_queries=max_slow_queries)
    bucket.counters = {series_key(k): float(v) for k, v in (doc.get("c") or {}).items()}
    bucket.maxima = {series_key(k): float(v) for k, v in (doc.get("m") or {}).items()}
    bucket.histograms = {
        series_key(k): decode_histogram(h, keep_sketches) for k, h in (doc.get("h") or {}).items()
    }
    if keep_sketches:
        queries = [
            SlowQuery(float(d), float(ts), str(fp), str(alias), str(route))
            for d, ts, fp, alias, route in (doc.get("q") or ())
        ]
        bucket.slow_queries = heapq.nlargest(max_slow_queries, queries)
        heapq.heapify(bucket.slow_queries)
        bucket.statements = {str(k): str(v) for k, v in (doc.get("t") or {}).items()}
    return bucket


def _copy_histogram(doc: dict[str, Any]) -> dict[str, Any]:
    copy = dict(doc)
    copy["n"] = list(doc["n"])
    if doc.get("k"):
        copy["k"] = list(doc["k"])
    return copy


def _add_bins(into: dict[str, Any], low: int, dense: list[int]) -> None:
    ours = into.get("k")
    if not ours:
        into["o"], into["k"] = low, list(dense)
        return
    our_low = into["o"]
    new_low = min(our_low, low)
    new_high = max(our_low + len(ours), low + len(dense))
    if new_low < our_low or new_high > our_low + len(ours):
        ours = [0] * (our_low - new_low) + ours + [0] * (new_high - our_low - len(ours))
        into["o"], into["k"] = new_low, ours
    at = low - new_low
    ours[at : at + len(dense)] = map(add, ours[at : at + len(dense)], dense)


def _add_histogram(histograms: dict[str, Any], key: str, doc: dict[str, Any]) -> None:
    ours = histograms.get(key)
    if ours is None or ours["b"] != doc["b"] or len(ours["n"]) != len(doc["n"]):
        # New, or its buckets were reconfigured: the newer series replaces the older.
        histograms[key] = _copy_histogram(doc)
        return
    ours["n"] = list(map(add, ours["n"], doc["n"]))
    ours["c"] += doc["c"]
    ours["s"] += doc["s"]
    if doc.get("z"):
        ours["z"] = ours.get("z", 0) + doc["z"]
    if doc.get("k"):
        _add_bins(ours, doc["o"], doc["k"])


def merge_into(into: Document, doc: Document, max_slow_queries: int = 50) -> Document:
    """Add ``doc`` into ``into`` (which it changes and returns); ``doc`` is left as it was."""
    counters = into.get("c") or {}
    for key, value in (doc.get("c") or {}).items():
        counters[key] = counters.get(key, 0) + value
    maxima = into.get("m") or {}
    for key, value in (doc.get("m") or {}).items():
        if key not in maxima or value > maxima[key]:
            maxima[key] = value
    histograms = into.get("h") or {}
    for key, histogram in (doc.get("h") or {}).items():
        _add_histogram(histograms, key, histogram)
    into["c"], into["m"], into["h"] = counters, maxima, histograms
    if doc.get("q"):
        queries = [*(into.get("q") or ()), *doc["q"]]
        into["q"] = heapq.nlargest(max_slow_queries, queries, key=lambda q: q[0])
    if doc.get("t"):
        into["t"] = {**(into.get("t") or {}), **doc["t"]}
    return into


def merge_documents(docs: Iterable[Document], max_slow_queries: int = 50) -> Document:
    """One new document holding the sum of ``docs``, which are left as they were."""
    merged: Document = {"c": {}, "m": {}, "h": {}}
    for doc in docs:
        merge_into(merged, doc, max_slow_queries)
    return merged


def dumps_document(doc: Document) -> str:
    return orjson.dumps(doc).decode()


def loads_document(text: str | bytes) -> Document:
    doc: Document = orjson.loads(text)
    return doc


def dumps(bucket: Bucket, keep_sketches: bool = True) -> str:
    return dumps_document(encode(bucket, keep_sketches))


def loads(
    text: str | bytes,
    start: int,
    seconds: int,
    max_slow_queries: int = 50,
    keep_sketches: bool = True,
) -> Bucket:
    return decode(loads_document(text), start, seconds, max_slow_queries, keep_sketches)
