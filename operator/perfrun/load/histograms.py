"""Latency histograms: HDR (the maintained ``hdrhistogram`` package) in the layout of
``perfrun.api.wire`` (microseconds, 3 significant digits), so percentiles are within 0.1%
and histograms from many pods add up exactly (same bucket layout everywhere)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hdrh.histogram import HdrHistogram

from perfrun.api.wire import HDR_HIGHEST_US, HDR_LOWEST_US, HDR_SIGNIFICANT_DIGITS

LOWEST_US = HDR_LOWEST_US
HIGHEST_US = HDR_HIGHEST_US
SIGNIFICANT_DIGITS = HDR_SIGNIFICANT_DIGITS

PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def bucket_floor(value: int) -> int:
    """The lowest value that ``value`` shares its HDR bucket with (recording it instead of
    ``value`` changes no count, no percentile, no min/max: those are reported per bucket).
    Values in the same bucket can then be recorded with one ``record_value(v, n)``."""
    shift = (value | _SUB_BUCKET_MASK).bit_length() - _SUB_BUCKET_BITS
    return value >> shift << shift


def add_counts(
    hist: HdrHistogram, counts: Mapping[int, int], also: HdrHistogram | None = None
) -> None:
    """Add ``{µs: how many}`` to ``hist`` (and to ``also``, in the same pass), clamped into
    its range: exactly what one ``record_value(us, n)`` per entry does, at a fraction of the
    cost (that call is ~3 µs of Python; here a value under 2048 µs is its own index and the
    totals are set once). The engine's hot path appends latencies and its flushes add them
    up with this."""
    if not counts:
        return
    arr = hist.counts
    arr2 = also.counts if also is not None else None
    total = 0
    for us, n in counts.items():
        if us < _SUB_BUCKET_COUNT:
            i = us if us >= LOWEST_US else LOWEST_US
        else:
            v = us if us <= HIGHEST_US else HIGHEST_US
            b = (v | _SUB_BUCKET_MASK).bit_length() - _SUB_BUCKET_BITS
            i = ((b + 1) << _HALF_MAGNITUDE) + (v >> b) - _HALF_COUNT
        arr[i] += n
        if arr2 is not None:
            arr2[i] += n
        total += n
    lo = min(max(min(counts), LOWEST_US), HIGHEST_US)
    hi = min(max(max(counts), LOWEST_US), HIGHEST_US)
    for h in (hist,) if also is None else (hist, also):
        h.total_count += total
        h.min_value = min(h.min_value, lo)
        h.max_value = max(h.max_value, hi)


def record_seconds(hist: HdrHistogram, seconds: float) -> None:
    """Record a latency, clamped into the histogram's range (never dropped)."""
    us = int(seconds * 1_000_000)
    hist.record_value(min(max(us, LOWEST_US), HIGHEST_US))


def encode(hist: HdrHistogram) -> str:
    """The standard compressed, base64 HDR encoding (readable by every HDR implementation)."""
    raw = hist.encode()
    return raw.decode("ascii") if isinstance(raw, bytes) else str(raw)


def decode(text: str) -> HdrHistogram:
    hist = new_histogram()
    if text:
        hist.decode_and_add(text)
    return hist


def merge(encoded: Iterable[str]) -> HdrHistogram:
    """One histogram holding every value of the given encoded histograms (exact: counts add)."""
    out = new_histogram()
    for text in encoded:
        if text:
            out.decode_and_add(text)
    return out


def latency_ms(hist: HdrHistogram) -> dict[str, float | int]:
    """Count, min, mean, max and percentiles in milliseconds (0 for an empty histogram)."""
    n = hist.get_total_count()
    out: dict[str, float | int] = {"count": n}
    if n == 0:
        out.update({"min": 0.0, "mean": 0.0, "max": 0.0})
        out.update({_pname(p): 0.0 for p in PERCENTILES})
        return out
    out["min"] = round(hist.get_min_value() / 1000.0, 3)
    out["mean"] = round(hist.get_mean_value() / 1000.0, 3)
    out["max"] = round(hist.get_max_value() / 1000.0, 3)
    for p in PERCENTILES:
        out[_pname(p)] = round(hist.get_value_at_percentile(p) / 1000.0, 3)
    return out


def _pname(p: float) -> str:
    return "p" + (f"{p:g}".replace(".", ""))


def same_counts(a: HdrHistogram, b: HdrHistogram) -> bool:
    """True if both hold the same number of values in every bucket."""
    if a.get_total_count() != b.get_total_count():
        return False
    ca = {it.value_iterated_to: it.count_at_value_iterated_to for it in a.get_recorded_iterator()}
    cb = {it.value_iterated_to: it.count_at_value_iterated_to for it in b.get_recorded_iterator()}
    return ca == cb


_LAYOUT = new_histogram()
if _LAYOUT.unit_magnitude != 0:  # pragma: no cover - LOWEST_US is 1
    raise RuntimeError("bucket_floor assumes a lowest trackable value of 1")
_SUB_BUCKET_MASK: int = _LAYOUT.sub_bucket_mask
_SUB_BUCKET_BITS: int = _LAYOUT.sub_bucket_half_count_magnitude + 1
_SUB_BUCKET_COUNT: int = _LAYOUT.sub_bucket_count
_HALF_MAGNITUDE: int = _LAYOUT.sub_bucket_half_count_magnitude
_HALF_COUNT: int = _LAYOUT.sub_bucket_half_count
del _LAYOUT
