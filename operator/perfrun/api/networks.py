"""Networks no run may reach, whatever its egressAllow or the admin's policy says: loopback,
link-local (the cloud metadata services, 169.254.169.254 and AWS' fd00:ec2::254), "this
network" and the unspecified address. The CRD refuses them with the same list in CEL."""

from __future__ import annotations

import ipaddress
import re

NEVER_EGRESS = (
    "0.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "::/128",
    "::1/128",
    "fe80::/10",
    "fd00:ec2::254/128",
)


def valid_cidr(cidr: str) -> bool:
    try:
        ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return True


def never_egress(cidr: str) -> str | None:
    """The forbidden network ``cidr`` overlaps, or None (also for a malformed CIDR)."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None
    for text in NEVER_EGRESS:
        bad = ipaddress.ip_network(text)
        if net.version == bad.version and net.overlaps(bad):
            return text
    return None


def never_egress_cel(field: str) -> str:
    """CEL (Kubernetes' cidr library): ``field`` is a CIDR overlapping none of NEVER_EGRESS."""
    bad = str(list(NEVER_EGRESS))
    return (
        f"isCIDR({field}) && !{bad}.exists(b, "
        f"cidr(b).ip().family() == cidr({field}).ip().family() && "
        f"(cidr(b).containsCIDR(cidr({field})) || cidr({field}).containsCIDR(cidr(b))))"
    )


# A URL whose host is a loopback, link-local or unspecified address literal, or a bare
# number (http://2852039166/ is 169.254.169.254 to most resolvers). One regex, so the CRD's
# CEL and the Python check say the same. The run's NetworkPolicy is the real fence; this
# refuses the obvious at admission.
FORBIDDEN_URL_HOST = (
    r"^[a-zA-Z]+://([^/@]*@)?"
    r"(127\.|169\.254\.|0\.|localhost([:/]|$)|\[(::1?|fe[89ab][0-9a-f]:[^\]]*|::ffff:[^\]]*)\]"
    r"|(0x[0-9a-fA-F]+|[0-9]+)([:/]|$))"
)
_FORBIDDEN_URL_HOST = re.compile(FORBIDDEN_URL_HOST)


def forbidden_url(url: str) -> bool:
    return _FORBIDDEN_URL_HOST.match(url) is not None


def forbidden_host(host: str) -> bool:
    """An IP literal no run may fetch from (loopback, link-local, unspecified)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return (
        ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
        or never_egress(f"{ip}/{ip.max_prefixlen}") is not None
    )
