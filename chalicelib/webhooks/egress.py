"""Where a webhook may be sent: the public internet on ports 80 and 443, never the inside.

A user's URL is the one place Postline makes a request on a user's say-so, so it is held to:
- ``http`` or ``https``, a host, port 80 or 443 (seed-C §4.1), no fragment; credentials only
  as the URL's user info (sent as HTTP basic auth, never in the request line);
- its host resolved at delivery time, every address checked, and the connection made to a
  checked address (``open_connection``): a name that resolves to 127.0.0.1, or that changes
  its answer between the check and the request (DNS rebinding), reaches nothing inside;
- refused: loopback, private (RFC 1918, RFC 4193), link-local (169.254.0.0/16 with the
  instance metadata address, fe80::/10), shared/CGNAT (100.64.0.0/10), multicast,
  unspecified, reserved and documentation ranges, on IPv4 and IPv6, including IPv4 carried
  inside IPv6 (mapped, NAT64, 6to4, Teredo);
- no redirects: http.client never follows one, and anything but 200 is a failure.

``POSTLINE_WEBHOOK_ALLOWED_NETWORKS`` (CIDRs, comma-separated) lets an operator allow
networks that would be refused, on any port: the local stack and the tests deliver to a
receiver on 127.0.0.1 with it. Off by default.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

ALLOWED_PORTS = (80, 443)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Refused(ValueError):
    """The URL, or the address its host resolves to, is not one Postline sends to."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written (the Host header and the TLS server name)
    port: int
    path: str  # path and query, as the request line carries them
    authorization: str | None  # "Basic ..." from the URL's user info


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    raw = os.environ.get("POSTLINE_WEBHOOK_ALLOWED_NETWORKS") or ""
    return [ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip()]


def _embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    return None


def address_class(ip: IPAddress) -> str | None:
    """Why an address is refused ("loopback", "private"...), or None for a public one."""
    inner = _embedded_v4(ip)
    if inner is not None:
        return address_class(inner)
    for name, hit in (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
                      ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                      ("shared (CGNAT)", isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT),
                      ("private", ip.is_private), ("reserved", ip.is_reserved), ("not global", not ip.is_global)):
        if hit:
            return name
    return None


def _allowed(ip: IPAddress) -> bool:
    return any(ip in net for net in allowed_networks() if net.version == ip.version)


def check_address(ip: IPAddress) -> None:
    reason = address_class(ip)
    if reason and not _allowed(ip):
        raise Refused(f"{ip} is a {reason} address")


def parse(url: str) -> Target:
    """The URL's parts, or Refused with what is wrong (the port is checked with the address:
    an allowed network may use any port)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise Refused("is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("must be an http or https URL")
    if parts.fragment:
        raise Refused("must not have a fragment")
    if any(c in url for c in "\r\n\t ") or "\\" in (parts.netloc or ""):
        raise Refused("is not a valid URL")
    authorization = None
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        authorization = "Basic " + base64.b64encode(credentials).decode()
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path,
                  authorization)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_port(target: Target, ip: IPAddress) -> None:
    if target.port not in ALLOWED_PORTS and not _allowed(ip):
        raise Refused("port must be 80 or 443")


def check_url(url: str) -> Target:
    """What the API checks when a webhook is saved: the URL's shape and, for an address
    written in it, the address. A name is checked again at every delivery."""
    target = parse(url)
    literal = _literal(target.host)
    if literal is not None:
        check_address(literal)
        check_port(target, literal)
    elif target.port not in ALLOWED_PORTS:
        if not allowed_networks():  # no network may use another port: no need to ask DNS
            raise Refused("port must be 80 or 443")
        try:
            addresses = resolve(target)
        except Refused:
            raise Refused("port must be 80 or 443") from None
        for ip in addresses:
            check_port(target, ip)
    return target


def resolve(target: Target) -> list[IPAddress]:
    """Every address the host has now, each checked; Refused if any is refused (a name with
    one inside address is not used at all) or if it has none."""
    literal = _literal(target.host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise Refused(f"{target.host} does not resolve: {exc}") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos))
    if not addresses:
        raise Refused(f"{target.host} has no address")
    for ip in addresses:
        check_address(ip)
        check_port(target, ip)
    return addresses


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to one checked address, whatever the host name resolves to later."""

    def __init__(self, address: str, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to one checked address; the certificate is verified for the URL's host name."""

    def __init__(self, address: str, *args, **kwargs) -> None:
        super().__init__(*args, context=ssl.create_default_context(), **kwargs)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def open_connection(target: Target, timeout: float) -> http.client.HTTPConnection:
    """A connection to the first checked address of the target's host (Refused if none is allowed)."""
    address = str(resolve(target)[0])
    kind = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    return kind(address, target.host, target.port, timeout=timeout)


def display(url: str) -> str:
    """The URL without its user info and query (either may hold the receiver's credentials),
    for mail and logs."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(invalid URL)"
    return f"{parts.scheme}://{host}{port}{parts.path}"
