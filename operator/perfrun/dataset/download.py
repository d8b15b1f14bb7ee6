"""Fetch a dump over HTTP(S) to a local file, streamed, with its sha256 computed on the way.

Transient failures (connection errors, timeouts, 429 and 5xx) are retried from the start; the
checksum is compared by the caller before anything is restored."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
CHUNK_BYTES = 1 << 20


class DownloadError(RuntimeError):
    """The dump could not be fetched."""


@dataclass(frozen=True)
class Downloaded:
    path: Path
    sha256: str
    bytes: int
    attempts: int
    seconds: float


def download(
    url: str,
    dest: Path,
    *,
    attempts: int = 4,
    backoff_s: float = 1.0,
    timeout_s: float = 60.0,
) -> Downloaded:
    """Stream ``url`` into ``dest``; retries transient failures, raises DownloadError otherwise."""
    started = time.monotonic()
    last = "no attempt made"
    for attempt in range(1, attempts + 1):
        digest = hashlib.sha256()
        size = 0
        try:
            with (
                httpx.Client(timeout=timeout_s, follow_redirects=True) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code in TRANSIENT_STATUS:
                    last = f"HTTP {response.status_code}"
                elif response.status_code != 200:
                    raise DownloadError(f"GET {url}: HTTP {response.status_code}, not retried")
                else:
                    with dest.open("wb") as out:
                        for chunk in response.iter_bytes(CHUNK_BYTES):
                            digest.update(chunk)
                            out.write(chunk)
                            size += len(chunk)
                    expected = response.headers.get("content-length")
                    if expected is not None and int(expected) != size:
                        last = f"short read: {size} of {expected} bytes"
                    else:
                        return Downloaded(
                            path=dest,
                            sha256=digest.hexdigest(),
                            bytes=size,
                            attempts=attempt,
                            seconds=time.monotonic() - started,
                        )
        except httpx.TransportError as exc:
            last = f"{type(exc).__name__}: {exc}"
        if attempt < attempts:
            time.sleep(backoff_s * (2 ** (attempt - 1)))
    raise DownloadError(f"GET {url}: failed after {attempts} attempts; last: {last}")


def sha256_file(path: Path) -> str:
    """The hex sha256 of a local file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
