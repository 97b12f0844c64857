"""Which webhook targets may be called: never the site's own network (SSRF).

A URL's host is resolved and every address it resolves to must be public: private,
loopback, link-local, shared, reserved, multicast and unspecified addresses are
refused unless ``WEBHOOK_ALLOW_PRIVATE`` is set, and so is IPv6 that carries one of
them (IPv4-mapped, NAT64, 6to4) or is a form no public receiver uses (IPv4-translated
and -compatible, local-use NAT64, Teredo, site-local): docs/security.md lists them.
The check runs when a webhook is registered and again before every delivery, and the
delivery connects to the address that was checked (so a name that changes its answer
in between gains nothing).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000


class UnsafeTarget(ValueError):
    """The URL is not one the site will call; the message says why."""


@dataclass(frozen=True)
class Target:
    """A checked URL: its parts and the address to connect to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str


# IPv6 ranges that carry an IPv4 address in their low 32 bits: a dual-stack socket or
# a NAT64 gateway reaches the embedded address, so that one must be public too.
_LOW_32_EMBEDDING = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "::ffff:0:0/96",  # IPv4-mapped
        "64:ff9b::/96",  # NAT64, well-known prefix (RFC 6052)
    )
)
# Refused whatever they carry: forms no public receiver uses and some stacks still
# route inward. The deprecated IPv4-translated (::ffff:0:a.b.c.d, RFC 2765) and
# IPv4-compatible (::a.b.c.d) forms; local-use NAT64 (RFC 8215), where the IPv4
# address sits wherever the operator's prefix length puts it; Teredo, whose real peer
# hides behind a relay; deprecated site-local.
_NEVER_PUBLIC = tuple(
    ipaddress.IPv6Network(net)
    for net in ("::ffff:0:0:0/96", "::/96", "64:ff9b:1::/48", "2001::/32", "fec0::/10")
)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (IPv4-mapped, NAT64, 6to4)."""
    found = [
        ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        for net in _LOW_32_EMBEDDING
        if ip in net
    ]
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    return found


def _plainly_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def is_public(address: str) -> bool:
    """Whether ``address`` is plainly on the public internet: a global unicast address
    and, for IPv6 that embeds an IPv4 address, a public one embedded too."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        return _plainly_public(ip)
    if any(ip in net for net in _NEVER_PUBLIC):
        return False
    embedded = embedded_ipv4(ip)
    if embedded:
        # Python calls several of these forms global (issue 32): judge what they carry.
        return all(_plainly_public(v4) for v4 in embedded)
    return _plainly_public(ip)


def parse(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an http(s) URL; UnsafeTarget for anything else."""
    if not isinstance(url, str) or not url.strip():
        raise UnsafeTarget("The URL is empty.")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeTarget(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise UnsafeTarget("The URL cannot be read.") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeTarget("The URL must start with http:// or https://.")
    if not parts.hostname:
        raise UnsafeTarget("The URL has no host.")
    if parts.username or parts.password:
        raise UnsafeTarget("The URL must not carry a user name or password.")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def check_target(url: str, *, allow_private: bool) -> Target:
    """The checked target of ``url``; UnsafeTarget if it is malformed, does not resolve,
    or resolves to an address that is not public (and ``allow_private`` is off)."""
    scheme, host, port = parse(url)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeTarget(f"The host {host!r} does not resolve.") from None
    addresses = [str(info[4][0]) for info in found]
    if not addresses:
        raise UnsafeTarget(f"The host {host!r} does not resolve.")
    if not allow_private:
        refused = [a for a in addresses if not is_public(a)]
        if refused:
            raise UnsafeTarget(
                f"The host {host!r} resolves to {refused[0]}, a private, loopback or "
                "reserved address: webhooks only call public addresses."
            )
    return Target(url=url.strip(), scheme=scheme, host=host, port=port, address=addresses[0])
