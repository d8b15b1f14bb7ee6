"""`perfrun analyze`, `perfrun report` and `perfrun baseline`: thin argument handling around
the library (run.analyze, the report renderers, kube.baselines).

Exit codes of analyze: 0 Passed, 1 Failed, 3 Inconclusive, 2 bad input (naming the field)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from perfrun.analysis import bounded, report_html, report_markdown
from perfrun.analysis.model import AnalysisResult, StepWindow, Window
from perfrun.analysis.run import analyze
from perfrun.analysis.summaries import LoadSummary, SummaryError, read_summary
from perfrun.api.analysis import AnalysisSpec
from perfrun.api.baseline import BaselineValues, PerfBaseline
from perfrun.api.load import LoadSpec
from perfrun.api.status import Verdict
from perfrun.api.times import instant, rfc3339
from perfrun.api.types import parse_duration

EXIT = {Verdict.PASSED: 0, Verdict.FAILED: 1, Verdict.INCONCLUSIVE: 3}
EXIT_BAD_INPUT = 2


class BadInputError(ValueError):
    """A problem with the command line or an input file; the message names the field."""


def _errors(prefix: str, exc: ValidationError) -> str:
    lines = []
    for e in exc.errors():
        path = ".".join(str(p) for p in e["loc"] if p not in ("int", "str"))
        ctx = e.get("ctx") or {}
        msg = ctx.get("message") if e["type"] == "perfrun_rule" else e["msg"]
        field = path + str(ctx.get("field_path", "")) if e["type"] == "perfrun_rule" else path
        lines.append(f"{prefix}{'.' + field if field else ''}: {msg}")
    return "\n".join(dict.fromkeys(lines))


def _load_doc(path: str, what: str) -> Any:
    try:
        return yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise BadInputError(f"{what}: {exc}") from exc


def parse_time(text: str, what: str) -> float:
    """Unix seconds or RFC 3339 (Z or offset)."""
    try:
        return instant(text)
    except ValueError as exc:
        raise BadInputError(f"{what}: {exc}") from exc


def load_spec(path: str) -> AnalysisSpec:
    doc = _load_doc(path, "--config")
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise BadInputError("--config: must be a mapping (a PerfRun's spec.analysis)")
    try:
        return AnalysisSpec.model_validate(doc)
    except ValidationError as exc:
        raise BadInputError(_errors("analysis", exc)) from exc


def load_baseline(path: str) -> BaselineValues:
    doc = _load_doc(path, "--baseline")
    try:
        return PerfBaseline.model_validate(doc).spec.values
    except ValidationError as exc:
        raise BadInputError(_errors("baseline", exc)) from exc


def ramp_steps(path: str, start: float, end: float) -> list[StepWindow]:
    """Step windows from a PerfRun's spec.load: the holds laid end to end from ``start``."""
    doc = _load_doc(path, "--load-config")
    try:
        load = LoadSpec.model_validate(doc)
    except ValidationError as exc:
        raise BadInputError(_errors("load", exc)) from exc
    out, t = [], start
    for i, s in enumerate(load.ramp.steps, start=1):
        stop = min(t + parse_duration(s.hold), end)
        if stop > t:
            out.append(StepWindow(index=i, rate=s.rate, start=t, end=stop))
        t = stop
    return out


def _summaries(paths: list[str]) -> list[LoadSummary]:
    try:
        return [read_summary(Path(p)) for p in paths]
    except SummaryError as exc:
        raise BadInputError(f"--summary: {exc}") from exc


def _write_reports(result: AnalysisResult, directory: str, title: str) -> None:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(result.model_dump_json(by_alias=True, indent=2))
    (out / "report.md").write_text(report_markdown.render(result, title))
    (out / "report.html").write_text(report_html.render(result, title))


def cmd_analyze(args: argparse.Namespace) -> int:
    try:
        spec = load_spec(args.config)
        url = args.prometheus or spec.prometheus.url
        if not url:
            raise BadInputError("--prometheus: required (spec.analysis.prometheus has no url)")
        start, end = parse_time(args.start, "--start"), parse_time(args.end, "--end")
        if end <= start:
            raise BadInputError("--end: must be after --start")
        summaries = _summaries(args.summary or [])
        baseline = load_baseline(args.baseline) if args.baseline else None
        steps = ramp_steps(args.load_config, start, end) if args.load_config else []
    except BadInputError as exc:
        print(f"perfrun analyze: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    result = analyze(
        spec, url, Window(start=start, end=end), summaries, baseline=baseline, steps=steps
    )
    print(result.model_dump_json(by_alias=True, indent=2))
    if args.report_dir:
        _write_reports(result, args.report_dir, args.title)
    print(f"perfrun analyze: {result.verdict}: {result.reason}", file=sys.stderr)
    return EXIT[Verdict(result.verdict)]


def _result_from_cluster(args: argparse.Namespace) -> AnalysisResult:
    from perfrun.api.perfrun import API_VERSION, KIND
    from perfrun.kube.client import Kube, load_api_client
    from perfrun.kube.reports import read_report, report_name

    kube = Kube(load_api_client(args.kubeconfig))
    run = kube.get(API_VERSION, KIND, args.run, args.namespace)
    status = (run or {}).get("status") or {}
    name = status.get("report") or report_name(args.run)
    files = read_report(kube, args.namespace, name)
    if not files or "report.json" not in files:
        raise BadInputError(f"no report for PerfRun {args.namespace}/{args.run} (ConfigMap {name})")
    return AnalysisResult.model_validate_json(files["report.json"])


def cmd_report(args: argparse.Namespace) -> int:
    try:
        if args.input:
            try:
                result = AnalysisResult.model_validate_json(Path(args.input).read_text())
            except (OSError, ValidationError) as exc:
                raise BadInputError(f"--input: {exc}") from exc
        elif args.run:
            result = _result_from_cluster(args)
        else:
            raise BadInputError("RUN or --input is required")
    except BadInputError as exc:
        print(f"perfrun report: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    title = args.title or args.run or "perfrun"
    if args.format == "json":
        text = result.model_dump_json(by_alias=True, indent=2)
    elif args.format == "markdown":
        text = report_markdown.render(result, title)
    elif args.format == "bounded":
        text = json.dumps(bounded.report_files(result, title))
    else:
        text = report_html.render(result, title)
    if args.open:
        return _open_html(report_html.render(result, title), args.output, title)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _open_html(html: str, output: str | None, title: str) -> int:
    """Write the HTML page (to ``output`` or a temporary file) and open it in the browser
    ($BROWSER, else the desktop's default)."""
    import tempfile
    import webbrowser

    if output:
        path = Path(output)
    else:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in title)
        path = Path(tempfile.mkdtemp(prefix="perfrun-report-")) / f"{safe}.html"
    path.write_text(html)
    print(f"report: {path.resolve()}", file=sys.stderr)
    if not webbrowser.open(path.resolve().as_uri()):
        print("perfrun report: no browser found; open the file above", file=sys.stderr)
        return 1
    return 0


def cmd_baseline_promote(args: argparse.Namespace) -> int:
    from perfrun.kube.baselines import PromotionError, promote
    from perfrun.kube.client import Kube, load_api_client

    now = rfc3339(datetime.now(UTC))
    try:
        kube = Kube(load_api_client(args.kubeconfig))
        obj = promote(
            kube, args.run, args.namespace, args.name, now, force=args.force, release=args.release
        )
    except PromotionError as exc:
        print(f"perfrun baseline promote: {exc}", file=sys.stderr)
        return 1
    print(yaml.safe_dump({"spec": obj.get("spec")}, sort_keys=False), end="")
    print(f"perfbaseline/{args.name} promoted from perfrun/{args.run}", file=sys.stderr)
    return 0


def cmd_baseline_show(args: argparse.Namespace) -> int:
    from perfrun.kube.baselines import read_baseline
    from perfrun.kube.client import Kube, load_api_client

    found = read_baseline(Kube(load_api_client(args.kubeconfig)), args.name, args.namespace)
    if found is None:
        print(f"perfbaseline {args.namespace}/{args.name} not found", file=sys.stderr)
        return 1
    print(yaml.safe_dump(found.to_wire(), sort_keys=False), end="")
    return 0


def _kube_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", "--namespace", default="default", help="namespace of the PerfRun")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then ~/.kube)")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    a = subparsers.add_parser(
        "analyze",
        help="query Prometheus for a load window, judge gates and baseline, print JSON",
        description="Exit 0 Passed, 1 Failed, 3 Inconclusive, 2 bad input.",
    )
    a.add_argument("--config", required=True, help="YAML/JSON: a PerfRun's spec.analysis")
    a.add_argument("--prometheus", help="Prometheus URL (default: spec.analysis.prometheus.url)")
    a.add_argument("--start", required=True, help="load start: Unix seconds or RFC 3339")
    a.add_argument("--end", required=True, help="load end: Unix seconds or RFC 3339")
    a.add_argument(
        "--summary", nargs="+", action="extend", metavar="PATH", help="load summary JSON files"
    )
    a.add_argument("--baseline", metavar="FILE", help="a PerfBaseline YAML to compare with")
    a.add_argument("--load-config", metavar="FILE", help="a PerfRun's spec.load (ramp steps)")
    a.add_argument("--report-dir", metavar="DIR", help="also write report.{json,md,html} here")
    a.add_argument("--title", default="perfrun", help="title of the reports")
    a.set_defaults(func=cmd_analyze)

    r = subparsers.add_parser("report", help="render a run's report: JSON, Markdown or HTML")
    r.add_argument("run", nargs="?", metavar="RUN", help="PerfRun name (reads its report)")
    r.add_argument("--input", metavar="FILE", help="an analyze JSON instead of a cluster run")
    r.add_argument("--format", choices=("html", "markdown", "json", "bounded"), default="html")
    r.add_argument("-o", "--output", help="write here instead of stdout")
    r.add_argument("--title", help="title (default: RUN)")
    r.add_argument("--open", action="store_true", help="write the HTML page and open it")
    _kube_args(r)
    r.set_defaults(func=cmd_report)

    b = subparsers.add_parser("baseline", help="PerfBaselines: promote a run, show one")
    bsub = b.add_subparsers(dest="baseline_command", metavar="ACTION", required=True)
    p = bsub.add_parser("promote", help="store a PerfRun's results as a named PerfBaseline")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--as", dest="name", required=True, metavar="NAME", help="baseline name")
    p.add_argument("--force", action="store_true", help="promote a run that did not pass")
    p.add_argument("--release", help="release label stored with the baseline")
    _kube_args(p)
    p.set_defaults(func=cmd_baseline_promote)
    s = bsub.add_parser("show", help="print a PerfBaseline")
    s.add_argument("name", metavar="NAME")
    _kube_args(s)
    s.set_defaults(func=cmd_baseline_show)
