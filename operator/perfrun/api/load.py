"""spec.load: the traffic a run sends — scenarios, the budget it must never exceed, the
ramp, and when to back off by itself."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from perfrun.api.base import ApiModel, Rule
from perfrun.api.environment import LIST_MAP_BY_NAME, Resources
from perfrun.api.podmeta import PodMetadata
from perfrun.api.types import (
    HEADER_NAME_MAX,
    HEADER_NAME_PATTERN,
    BaseUrl,
    DnsLabel,
    Duration,
    ImageRef,
    PositiveDuration,
    ShortText,
    StatusCode,
    keys_match,
    keys_rule_cel,
    parse_duration,
)

# The placeholders a path or body template may use; anything else in braces is refused so a
# typo such as {acount} fails validation instead of hitting the target literally.
TEMPLATE_PLACEHOLDERS = ("account", "uuid", "seq")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def unknown_placeholders(value: Any) -> list[str]:
    """Placeholders in a template (a string, or a JSON body of strings) that are not known."""
    if isinstance(value, str):
        return [m for m in _PLACEHOLDER.findall(value) if m not in TEMPLATE_PLACEHOLDERS]
    if isinstance(value, dict):
        return [
            u for k, v in value.items() for u in unknown_placeholders(k) + unknown_placeholders(v)
        ]
    if isinstance(value, list):
        return [u for v in value for u in unknown_placeholders(v)]
    return []


# A scenario's JSON body, serialised: 32 scenarios of this size and everything else in
# spec.load keep the rendered load-config ConfigMap well under Kubernetes' 1 MiB.
MAX_BODY_BYTES = 16 * 1024


# How deep a body may nest. The API server takes JSON nested 10000 deep; every reader of the
# body in Python (this validation, the renderer, the load engine) recurses once per level.
MAX_BODY_DEPTH = 32


def _shallow_body(value: Any) -> Any:
    """Refuses a body nested deeper than ``MAX_BODY_DEPTH`` (walked without recursion, so
    any depth the API server takes is judged, never a RecursionError)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_BODY_DEPTH:
            raise ValueError(
                f"the body nests deeper than {MAX_BODY_DEPTH} levels of objects and lists"
            )
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return value


def _small_body(value: Any) -> Any:
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a number JSON cannot hold (1e400 was read as infinity)
        raise ValueError("the body holds a number too large for JSON (e.g. 1e400)") from None
    size = len(text.encode())
    if size > MAX_BODY_BYTES:
        raise ValueError(
            f"the body is {size} bytes as JSON; at most {MAX_BODY_BYTES} bytes are allowed "
            "(the load spec is rendered into a ConfigMap, which holds at most 1 MiB)"
        )
    return value


def _known_placeholders(value: Any) -> Any:
    unknown = unknown_placeholders(value)
    if unknown:
        known = ", ".join("{" + p + "}" for p in TEMPLATE_PLACEHOLDERS)
        raise ValueError(f"unknown placeholder {{{unknown[0]}}}; known: {known}")
    return value


class Budget(ApiModel):
    """Limits the load never exceeds, summed over all load pods (each gets an exact share)."""

    max_rps: int = Field(ge=1, le=1_000_000, description="Requests per second, retries included.")
    max_in_flight: int = Field(ge=1, le=100_000, description="Requests outstanding at once.")
    max_duration: PositiveDuration = Field(description="Wall-clock limit of the load phase.")
    max_accounts_per_minute: int | None = Field(
        None, ge=0, description="Accounts that scenarios may create per minute."
    )
    max_rows: int | None = Field(None, ge=0, description="Rows that scenarios may create in all.")
    max_retries: int = Field(
        0, ge=0, le=10, description="Retries of a failed request; they count against maxRps."
    )


class RampStep(ApiModel):
    """One step of the ramp: a rate held for a while."""

    rate: int = Field(
        ge=1, le=1_000_000, description="Open model: requests/s. Closed model: virtual users."
    )
    hold: Duration = Field(description="How long the step lasts.")


class Ramp(ApiModel):
    """How load rises: an open model (arrival rate) or a closed one (virtual users)."""

    model: Literal["open", "closed"] = Field(
        "open",
        description="open: requests start at their scheduled time whatever the server does "
        "(no coordinated omission); closed: each virtual user waits for its answer.",
    )
    steps: list[RampStep] = Field(min_length=1, max_length=50, description="Steps in order.")
    think_time: Duration = Field("0s", description="Closed model: pause between requests.")
    max_lateness: Duration = Field(
        "100ms",
        description="Open model: a request that cannot be sent within this long of its "
        "scheduled time (the load generator or the budget cannot keep up) is dropped and "
        "counted per step, not sent late; a run that drops more than a few percent is "
        "judged Inconclusive (LoadGeneratorSaturated).",
    )


class BackOffOn(ApiModel):
    """Signals that the target is hurting; any one of them breaches."""

    status_codes: list[StatusCode] = Field(
        default_factory=lambda: [429, 503],
        max_length=16,
        description="Status codes that mean 'slow down'.",
    )
    status_share: float = Field(
        0.01, ge=0.0, le=1.0, description="Share of those codes in a window that breaches."
    )
    p95: Duration | None = Field(None, description="p95 latency in a window that breaches.")
    error_rate: float | None = Field(
        None, ge=0.0, le=1.0, description="Error share in a window that breaches."
    )


class Adaptive(ApiModel):
    """Back off by itself when the target signals trouble, instead of pushing on."""

    back_off_on: BackOffOn = Field(
        default_factory=BackOffOn,
        description="What counts as a breach.",
        json_schema_extra={"default": {}},
    )
    then: Literal["holdPreviousStep", "stepDown", "abort"] = Field(
        "holdPreviousStep",
        description="What to do on a breach. stepDown and holdPreviousStep cut the rate to 90% "
        "of what the target served per second in that window (a cut that leaves a large share "
        "refused is cut again at once), leave the next window to settle, then probe back up by "
        "2% of the step's rate per clean window, never past 97% of the served rate: "
        "holdPreviousStep stays there for the rest of the run; stepDown re-checks it after 3 "
        "clean windows, ever faster, and returns to the ramp if the target has recovered. A "
        "signal that does not fall when the rate is cut (a constant error rate) is reported "
        "(constantErrors) and no longer acted on. Retries "
        "come out of the cut rate. abort: stop sending, drain, report.",
    )
    window: PositiveDuration = Field(
        "5s", description="Length of the window the signals are read over."
    )


class AccountIds(ApiModel):
    """The account ids `{account}` in a path or body is drawn from; match the dataset."""

    min: int = Field(1, ge=0, description="Smallest id.")
    max: int = Field(ge=1, description="Largest id.")
    distribution: Literal["uniform", "zipf"] = Field(
        "zipf", description="zipf: a few hot (whale) accounts get most traffic."
    )
    exponent: float = Field(1.1, gt=0.0, le=10.0, description="Zipf skew.")

    __rules__ = (
        Rule(
            cel="self.min <= self.max",
            message="min must not exceed max",
            check=lambda a: a.min <= a.max,
            field_path=".min",
        ),
    )


class Scenario(ApiModel):
    """A weighted request template."""

    name: DnsLabel = Field(description="Name, used as a metrics label.")
    weight: int = Field(ge=1, le=1000, description="Relative share of requests.")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = Field(
        "GET", description="HTTP method."
    )
    path: Annotated[str, AfterValidator(_known_placeholders)] = Field(
        pattern=r"^/[^\x00-\x1f\x7f]*$",
        max_length=2048,
        description="Path template, e.g. /accounts/{account}; {account}, {uuid} and {seq} "
        "are filled in per request.",
    )
    headers: dict[str, ShortText] = Field(
        default_factory=dict, max_length=32, description="Headers."
    )
    body: Annotated[
        Any,
        AfterValidator(_shallow_body),
        AfterValidator(_small_body),
        AfterValidator(_known_placeholders),
    ] = Field(
        None,
        description="JSON body template; strings may contain {account}, {uuid}, {seq}; a string "
        "that is exactly {account} or {seq} becomes a number.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    expect_status: list[StatusCode] = Field(
        default_factory=list,
        max_length=16,
        description="Status codes that count as success; default 2xx and 3xx.",
    )
    creates_accounts: int = Field(0, ge=0, description="Accounts one request creates.")
    creates_rows: int = Field(0, ge=0, description="Rows one request creates.")

    __rules__ = (
        Rule(
            cel=keys_rule_cel("headers", HEADER_NAME_PATTERN, HEADER_NAME_MAX),
            message=f"header names must be HTTP tokens of at most {HEADER_NAME_MAX} characters "
            "(like X-Request-Id)",
            check=lambda s: keys_match(s.headers, HEADER_NAME_PATTERN, HEADER_NAME_MAX),
            field_path=".headers",
        ),
    )


class LoadSpec(ApiModel):
    """The load: who is hit, with what, how hard at most, and how it ramps."""

    target: BaseUrl = Field(description="Base URL, e.g. http://api:8080 (a Service in the run).")
    parallelism: int = Field(1, ge=1, le=64, description="Load pods; the budget is split exactly.")
    engine: Literal["perfrun"] = Field("perfrun", description="The load engine.")
    image: ImageRef | None = Field(None, description="Load image override.")
    request_timeout: PositiveDuration = Field("10s", description="Per-request timeout.")
    scenarios: list[Scenario] = Field(
        min_length=1,
        max_length=32,
        description="Weighted request templates.",
        json_schema_extra=LIST_MAP_BY_NAME,
    )
    accounts: AccountIds | None = Field(None, description="Where {account} comes from.")
    budget: Budget = Field(description="Limits never exceeded.")
    ramp: Ramp = Field(description="How load rises.")
    adaptive: Adaptive | None = Field(None, description="Automatic back-off.")
    resources: Resources | None = Field(
        None,
        description="Each load pod's requests and limits (default 250m CPU, 256Mi); give "
        "a busy ramp a whole core or more.",
    )
    pod_metadata: PodMetadata | None = Field(None, description="Extra load pod labels/annotations.")

    __rules__ = (
        Rule(
            cel="self.ramp.model != 'open' || self.ramp.steps.all(s, s.rate <= self.budget.maxRps)",
            message="a ramp step's rate exceeds budget.maxRps",
            check=lambda s: (
                s.ramp.model != "open" or all(st.rate <= s.budget.max_rps for st in s.ramp.steps)
            ),
            field_path=".ramp.steps",
        ),
        Rule(
            cel="self.ramp.model != 'closed' || "
            "self.ramp.steps.all(s, s.rate <= self.budget.maxInFlight)",
            message="a closed-model step has more virtual users than budget.maxInFlight",
            check=lambda s: (
                s.ramp.model != "closed"
                or all(st.rate <= s.budget.max_in_flight for st in s.ramp.steps)
            ),
            field_path=".ramp.steps",
        ),
        Rule(
            cel="self.parallelism <= self.budget.maxRps && "
            "self.parallelism <= self.budget.maxInFlight",
            message="parallelism exceeds budget.maxRps or budget.maxInFlight: every load pod "
            "needs a share of at least 1",
            check=lambda s: s.parallelism <= min(s.budget.max_rps, s.budget.max_in_flight),
            field_path=".parallelism",
        ),
        Rule(
            cel="self.ramp.steps.map(s, duration(s.hold)).sum() <= "
            "duration(self.budget.maxDuration)",
            message="the ramp's holds add up to more than budget.maxDuration",
            check=lambda s: (
                sum(parse_duration(st.hold) for st in s.ramp.steps)
                <= parse_duration(s.budget.max_duration) + 1e-9
            ),
            field_path=".ramp.steps",
        ),
        Rule(
            cel="has(self.accounts) || !self.scenarios.exists(s, s.path.contains('{account}'))",
            message="a scenario path uses {account} but load.accounts is not set",
            check=lambda s: (
                s.accounts is not None or not any("{account}" in sc.path for sc in s.scenarios)
            ),
            field_path=".accounts",
        ),
    )
