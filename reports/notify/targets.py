"""Which webhook targets may be called: never the site's own network (SSRF).

A URL's host is resolved and every address it resolves to must be public: private,
loopback, link-local, shared, reserved, multicast and unspecified addresses are
refused unless ``WEBHOOK_ALLOW_PRIVATE`` is set. The check runs when a webhook is
registered and again before every delivery, and the delivery connects to the address
that was checked (so a name that changes its answer in between gains nothing).
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


def is_public(address: str) -> bool:
    """Whether ``address`` is on the public internet."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


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
