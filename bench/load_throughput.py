"""Requests per second per CPU core, in one run against the same loopback nginx: this engine
(`perfrun load`, closed model), wrk (Debian) and k6 (built from its Go module), printed as
ratios; the open model side by side with k6's ``constant-arrival-rate`` at the same rates
(sent, dropped, requests per CPU-second, p50 and p99 per rate, the ceiling each sustains --
the highest rate with >= 99 % sent and <= 1 % dropped, every lower rate sustained too -- and
each once more at 80 % of its ceiling, with the verdict whether p99 stayed under 2 ms at
every rate up to there); plus the
HTTP client choice measured the same way: the engine's own client
(``perfrun.load.http``: asyncio Protocols + llhttp via httptools), aiohttp on uvloop and httpx,
each as a bare loop of GETs with no bookkeeping.

``--pin 0`` runs every tool on CPU 0 and nginx on the others (the same for each tool, so
the ratios stay fair); the first line printed says which.

CPU is the client process's own user+system time (``RUSAGE_CHILDREN`` around each child), so
the figure is requests per client CPU-second whatever else the machine is doing.

    .venv/bin/python bench/load_throughput.py [--seconds 5] [--connections 32] [--rounds 1]
      [--no-clients] [--open-rates 2000,...] [--open-rounds 1] [--pin 0]
      [--k6 ~/.cache/perfrun/bin/k6-v1.8.1/k6]

Build k6 once: GOTOOLCHAIN=local GOBIN=~/.cache/perfrun/bin/k6-v1.8.1 go install go.k6.io/k6@v1.8.1
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.cpu import CpuPressure
from tests.support.loadservers import start_nginx, stop_nginx
from tests.support.waiting import free_port

DEFAULT_K6 = Path.home() / ".cache/perfrun/bin/k6-v1.8.1/k6"
# With --pin: the CPUs every measured tool runs on (nginx gets the others).
TOOL_CPUS: set[int] | None = None


def _pin_tool() -> None:
    if TOOL_CPUS is not None:
        os.sched_setaffinity(0, TOOL_CPUS)


def pin(nginx_pid: int, tool_cpus: set[int]) -> str:
    """Every tool on ``tool_cpus`` and nginx (master and workers) on the other CPUs, so the
    load process and the target do not take each other's core; returns what it did."""
    global TOOL_CPUS
    rest = os.sched_getaffinity(0) - tool_cpus
    if not rest:
        raise SystemExit(f"--pin: no CPU left for nginx beside {sorted(tool_cpus)}")
    children = Path(f"/proc/{nginx_pid}/task/{nginx_pid}/children").read_text().split()
    for pid in (nginx_pid, *map(int, children)):
        os.sched_setaffinity(pid, rest)
    TOOL_CPUS = tool_cpus
    return f"pinned: each tool on CPU {sorted(tool_cpus)}, nginx on CPU {sorted(rest)}"


def measured(cmd: list[str], timeout: float) -> tuple[str, float, float]:
    """Run ``cmd``; return (stdout+stderr, wall seconds, CPU seconds of the child)."""
    import time

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, check=False, preexec_fn=_pin_tool
    )
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout + proc.stderr, wall, cpu


def bench_wrk(url: str, seconds: int, conns: int) -> tuple[int, float]:
    out, _, cpu = measured(["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", url + "/"], seconds + 30)
    m = re.search(r"(\d+) requests in", out)
    if not m:
        raise RuntimeError(f"wrk output not understood: {out}")
    return int(m.group(1)), cpu


def bench_k6(k6: Path, url: str, seconds: int, conns: int, tmp: Path) -> tuple[int, float]:
    script = tmp / "k6.js"
    script.write_text(
        textwrap.dedent(
            f"""
            import http from 'k6/http';
            export default function () {{ http.get('{url}/'); }}
            """
        )
    )
    summary = tmp / "k6-summary.json"
    _, _, cpu = measured(
        [
            str(k6),
            "run",
            "--quiet",
            "--no-color",
            "--vus",
            str(conns),
            "--duration",
            f"{seconds}s",
            "--summary-export",
            str(summary),
            str(script),
        ],
        seconds + 60,
    )
    data = json.loads(summary.read_text())
    return int(data["metrics"]["http_reqs"]["count"]), cpu


def bench_perfrun(url: str, seconds: int, conns: int, tmp: Path) -> tuple[int, float]:
    cfg = tmp / "load.json"
    cfg.write_text(
        json.dumps(
            {
                "target": url,
                "scenarios": [{"name": "get", "weight": 1, "path": "/"}],
                "budget": {"maxRps": 1_000_000, "maxInFlight": conns, "maxDuration": "10m"},
                "ramp": {"model": "closed", "steps": [{"rate": conns, "hold": f"{seconds}s"}]},
            }
        )
    )
    summary = tmp / "perfrun-summary.json"
    _, _, cpu = measured(
        [
            sys.executable,
            "-m",
            "perfrun.cli",
            "load",
            "-q",
            "--config",
            str(cfg),
            "--summary",
            str(summary),
        ],
        seconds + 60,
    )
    return int(json.loads(summary.read_text())["attempts"]), cpu


def bench_perfrun_open(url: str, rate: int, seconds: int, tmp: Path) -> dict[str, float]:
    """The open model at ``rate`` req/s: what it sent and dropped, its CPU, its p99."""
    cfg = tmp / "load-open.json"
    cfg.write_text(
        json.dumps(
            {
                "target": url,
                "scenarios": [{"name": "get", "weight": 1, "path": "/"}],
                "budget": {"maxRps": 1_000_000, "maxInFlight": 256, "maxDuration": "10m"},
                "ramp": {"model": "open", "steps": [{"rate": rate, "hold": f"{seconds}s"}]},
            }
        )
    )
    summary = tmp / "perfrun-open-summary.json"
    cmd = [sys.executable, "-m", "perfrun.cli", "load", "-q", "--config", str(cfg)]
    _, _, cpu = measured([*cmd, "--summary", str(summary)], seconds + 60)
    doc = json.loads(summary.read_text())
    return {
        "sent": doc["attempts"],
        "dropped": doc["dropped"],
        "cpu": cpu,
        "p50": doc["latencyMs"]["p50"],
        "p99": doc["latencyMs"]["p99"],
    }


def bench_k6_open(k6: Path, url: str, rate: int, seconds: int, tmp: Path) -> dict[str, float]:
    """k6's ``constant-arrival-rate`` executor at ``rate`` iterations (one GET each) per second."""
    script = tmp / "k6-open.js"
    script.write_text(
        textwrap.dedent(
            f"""
            import http from 'k6/http';
            export const options = {{
              scenarios: {{ open: {{
                executor: 'constant-arrival-rate', rate: {rate}, timeUnit: '1s',
                duration: '{seconds}s', preAllocatedVUs: 256, maxVUs: 256,
              }} }},
              summaryTrendStats: ['avg', 'p(50)', 'p(99)', 'max'],
            }};
            export default function () {{ http.get('{url}/'); }}
            """
        )
    )
    summary = tmp / "k6-open-summary.json"
    cmd = [str(k6), "run", "--quiet", "--no-color", "--summary-export", str(summary)]
    _, _, cpu = measured([*cmd, str(script)], seconds + 60)
    metrics = json.loads(summary.read_text())["metrics"]
    dropped = metrics.get("dropped_iterations", {}).get("count", 0)
    return {
        "sent": metrics["http_reqs"]["count"],
        "dropped": dropped,
        "cpu": cpu,
        "p50": metrics["http_req_duration"].get("p(50)", float("nan")),
        "p99": metrics["http_req_duration"].get("p(99)", float("nan")),
    }


def run_open(args: argparse.Namespace, url: str, tmp: Path) -> None:
    """The open-model comparison at ``--open-rates``, each tool in turn at each rate, for
    ``--open-rounds`` rounds (a rate's figures are the median over them: on a shared machine
    one round is often hit by others' work); then each tool at 80 % of the ceiling it
    showed, as many rounds, for the tail verdict."""
    rates = [int(r) for r in args.open_rates.split(",") if r.strip()]
    if not rates:
        return
    runners: dict[str, Callable[[int], dict[str, float]]] = {
        "perfrun load": lambda rate: bench_perfrun_open(url, rate, args.seconds, tmp)
    }
    if args.k6.exists():
        runners["k6 car"] = lambda rate: bench_k6_open(args.k6, url, rate, args.seconds, tmp)
    rounds: dict[str, dict[int, list[dict[str, float]]]] = {tool: {} for tool in runners}

    def one(tool: str, rate: int) -> None:
        with CpuPressure() as pressure:  # how much the machine let it run (see tests/support)
            r = runners[tool](rate)
        r["pressure"] = float("nan") if pressure.share is None else pressure.share
        rounds[tool].setdefault(rate, []).append(r)

    load_before = os.getloadavg()[0]
    for _ in range(args.open_rounds):
        for rate in rates:
            for tool in runners:
                one(tool, rate)
    for tool in runners:
        top = ceiling(medians(rounds[tool]), args.seconds)
        at80 = (top * 4) // 5
        if top and at80 not in rounds[tool]:
            for _ in range(args.open_rounds):
                one(tool, at80)
    load_after = os.getloadavg()[0]
    open_table(rounds, args.seconds)
    print(f"load average (1 min) {load_before:.2f} before, {load_after:.2f} after")


def medians(by_rate: dict[int, list[dict[str, float]]]) -> dict[int, dict[str, float]]:
    """Each rate's figures, each the median over its rounds."""
    return {
        rate: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for rate, runs in by_rate.items()
    }


def sustained(r: dict[str, float], rate: int, seconds: int) -> bool:
    """At least 99 % of the asked requests sent, at most 1 % of the slots dropped."""
    return r["sent"] >= 0.99 * rate * seconds and r["dropped"] <= 0.01 * rate * seconds


def ceiling(by_rate: dict[int, dict[str, float]], seconds: int) -> int:
    """The highest rate sustained with every lower rate measured sustained too (0: none)."""
    top = 0
    for rate in sorted(by_rate):
        if not sustained(by_rate[rate], rate, seconds):
            break
        top = rate
    return top


def open_table(rounds: dict[str, dict[int, list[dict[str, float]]]], seconds: int) -> None:
    """Side by side per rate (medians over the rounds): sent/s, dropped, req/CPU-s, p50,
    p99 and each round's p99 with the CPU pressure during it (the share of the time some
    task on the machine waited for a CPU: nginx and the tool's own load count too); then
    each tool's ceiling (the highest rate sustained -- >= 99 % sent, <= 1 % dropped -- with
    every lower rate sustained too) and whether p99 stayed under 2 ms at every rate up to
    80 % of it (p99 is against nginx answering from memory on loopback, so it bounds what
    the tool adds)."""
    print("--- open model (arrival rate), same rates, same nginx; medians over the rounds")
    print(
        f"{'tool':<14}{'rate':>8}{'sent/s':>10}{'dropped':>9}{'req/cpu-s':>11}"
        f"{'p50 ms':>9}{'p99 ms':>9}  each round: p99 ms (CPU pressure)"
    )
    results = {tool: medians(by_rate) for tool, by_rate in rounds.items()}
    for tool, by_rate in results.items():
        for rate, r in sorted(by_rate.items()):
            per_cpu = r["sent"] / r["cpu"] if r["cpu"] > 0 else 0.0
            each = " ".join(f"{x['p99']:.2f} ({x['pressure']:.0%})" for x in rounds[tool][rate])
            print(
                f"{tool:<14}{rate:>8}{r['sent'] / seconds:>10.0f}{r['dropped']:>9.0f}"
                f"{per_cpu:>11.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}  {each}"
            )
    for tool, by_rate in results.items():
        top = ceiling(by_rate, seconds)
        if not top:
            print(f"{tool}: sustained none of those rates")
            continue
        limit = top * 0.8
        under = {rate: r["p99"] for rate, r in sorted(by_rate.items()) if rate <= limit}
        over = [f"{rate} ({p99:.2f} ms)" for rate, p99 in under.items() if not p99 < 2.0]
        verdict = "yes" if under and not over else "no: " + ", ".join(over or ["no rate"])
        print(
            f"{tool}: ceiling {top} req/s; p99 < 2 ms at every rate up to 80 % of it "
            f"({limit:.0f} req/s): {verdict}"
        )


CLIENT_BENCH = """
import asyncio, sys, time
kind, url, conns, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
count = 0
async def main():
    global count
    end = time.monotonic() + seconds
    if kind == "perfrun":
        from perfrun.load.http import Client, RequestBytes, parse_origin
        origin = parse_origin(url)
        client = Client(origin, 10.0)
        client.start()
        data = RequestBytes(origin, "GET", {}).build("/", None)
        async def worker():
            global count
            while time.monotonic() < end:
                await client.send(data)
                count += 1
        await asyncio.gather(*[worker() for _ in range(conns)])
        await client.close()
    elif kind == "aiohttp":
        import aiohttp, uvloop
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conns)) as s:
            async def worker():
                global count
                while time.monotonic() < end:
                    async with s.get(url) as r:
                        await r.read()
                    count += 1
            await asyncio.gather(*[worker() for _ in range(conns)])
    else:
        import httpx
        limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
        async with httpx.AsyncClient(limits=limits) as c:
            async def worker():
                global count
                while time.monotonic() < end:
                    r = await c.get(url)
                    r.read()
                    count += 1
            await asyncio.gather(*[worker() for _ in range(conns)])
if kind in ("aiohttp", "perfrun"):
    import uvloop; uvloop.run(main())
else:
    asyncio.run(main())
print(count)
"""


def bench_client(kind: str, url: str, conns: int, seconds: int) -> tuple[int, float]:
    out, _, cpu = measured(
        [sys.executable, "-c", CLIENT_BENCH, kind, url + "/", str(conns), str(seconds)],
        seconds + 60,
    )
    return int(out.strip().splitlines()[-1]), cpu


def _table(rows: dict[str, tuple[int, float]]) -> dict[str, float]:
    print(f"{'tool':<24}{'requests':>10}{'cpu s':>8}{'req/cpu-s':>11}")
    per_core = {}
    for name, (n, cpu) in rows.items():
        per_core[name] = n / cpu if cpu > 0 else 0.0
        print(f"{name:<24}{n:>10}{cpu:>8.2f}{per_core[name]:>11.0f}")
    base = per_core["perfrun load"]
    for other in ("wrk", "k6"):
        if per_core.get(other):
            print(f"perfrun load / {other}: {base / per_core[other]:.2f}")
    return per_core


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=1, help="repeat engine, wrk and k6 N times")
    ap.add_argument("--no-clients", action="store_true", help="skip the HTTP client comparison")
    ap.add_argument("--k6", type=Path, default=DEFAULT_K6)
    ap.add_argument(
        "--open-rates",
        default="2000,5000,10000,20000,30000,40000,50000",
        help="open-model rates to run the engine and k6 constant-arrival-rate at ('' skips)",
    )
    ap.add_argument("--open-rounds", type=int, default=1, help="open-model rounds (medians)")
    ap.add_argument(
        "--pin",
        default="",
        help="CPUs for every tool, e.g. '0' (nginx gets the rest; the same for all tools)",
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="perfrun-bench-"))
    nginx = start_nginx(tmp, free_port(), access_log=False)
    rounds: list[dict[str, float]] = []
    clients: dict[str, tuple[int, float]] = {}
    try:
        if args.pin:
            print(pin(nginx.proc.pid, {int(c) for c in args.pin.split(",")}))
        else:
            print("not pinned: tools and nginx go where the scheduler puts them (--pin 0 pins)")
        s, c = args.seconds, args.connections
        for r in range(args.rounds):
            rows: dict[str, tuple[int, float]] = {}
            rows["perfrun load"] = bench_perfrun(nginx.url, s, c, tmp)
            if shutil.which("wrk"):
                rows["wrk"] = bench_wrk(nginx.url, s, c)
            elif r == 0:
                print("wrk: not installed (apt-get install wrk)")
            if args.k6.exists():
                rows["k6"] = bench_k6(args.k6, nginx.url, s, c, tmp)
            elif r == 0:
                print(f"k6: {args.k6} missing (see the docstring to build it)")
            if args.rounds > 1:
                print(f"--- round {r + 1} of {args.rounds}")
            rounds.append(_table(rows))
        run_open(args, nginx.url, tmp)
        if not args.no_clients:
            for kind in ("perfrun", "aiohttp", "httpx"):
                for conns in (1, c):
                    clients[f"client {kind} c={conns}"] = bench_client(kind, nginx.url, conns, 3)
    finally:
        stop_nginx(nginx)
        shutil.rmtree(tmp, ignore_errors=True)
    if clients:
        print("--- bare HTTP clients (a loop of GETs, no bookkeeping)")
        print(f"{'client':<24}{'requests':>10}{'cpu s':>8}{'req/cpu-s':>11}")
        for name, (n, cpu) in clients.items():
            print(f"{name:<24}{n:>10}{cpu:>8.2f}{(n / cpu if cpu > 0 else 0.0):>11.0f}")
    if len(rounds) > 1:
        print(f"--- {len(rounds)} rounds: best / median / worst")
        names = [n for n in rounds[0] if all(n in r for r in rounds)]
        series = {n: sorted(r[n] for r in rounds) for n in names}
        for other in ("wrk", "k6"):
            if other in names:
                series[f"perfrun load / {other}"] = sorted(
                    r["perfrun load"] / r[other] for r in rounds if r[other]
                )
        for name, xs in series.items():
            fmt = "{:.2f}" if "/" in name else "{:.0f}"
            best, med, worst = xs[-1], statistics.median(xs), xs[0]
            print(f"{name:<24} " + " / ".join(fmt.format(x) for x in (best, med, worst)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
