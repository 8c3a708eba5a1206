"""Test support: refuse and record any non-loopback network use in a subprocess (never product code).

pytest-socket guards the pytest process only; the engine and every `python -m scribe ...` run in
their own processes. The test session puts tests/subprocess_hooks on PYTHONPATH and names a record
file in NETGUARD_LOG, so every child installs this guard at startup (see ``sitecustomize``). Then a
connect, sendto or name lookup aimed anywhere but this machine raises an ``OSError`` before any
packet is sent, and one JSON line (pid, command line, call, host) is appended to the record file,
which the tests read. Unix sockets, loopback addresses and "localhost" pass through.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import socket
import sys
from typing import Any

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def is_loopback_host(host: object) -> bool:
    """True for 127.0.0.0/8, ::1 (also v4-mapped) and localhost; False for every other name or address."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%")[0].lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def _is_ip_literal(host: object) -> bool:
    try:
        ipaddress.ip_address(str(host).strip("[]").split("%")[0])
        return True
    except ValueError:
        return False


def _record(call: str, host: object, port: object) -> None:
    line = json.dumps({"pid": os.getpid(), "argv": sys.argv, "call": call, "host": str(host), "port": str(port)})
    fd = os.open(os.environ["NETGUARD_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def _refuse(call: str, host: object, port: object) -> OSError:
    _record(call, host, port)
    return OSError(errno.ENETUNREACH, f"netguard: {call} to {host}:{port} refused (tests allow loopback only)")


def _checked(address: Any, family: int) -> tuple[object, object] | None:
    """(host, port) when ``address`` leaves the machine; None when it is loopback or not an IP address."""
    if family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
        return None
    host, port = address[0], address[1]
    return None if is_loopback_host(host) else (host, port)


def install() -> None:
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_sendto = socket.socket.sendto
    real_getaddrinfo = socket.getaddrinfo
    real_gethostbyname = socket.gethostbyname

    def connect(self: socket.socket, address: Any) -> None:
        leaving = _checked(address, self.family)
        if leaving:
            raise _refuse("connect", *leaving)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        leaving = _checked(address, self.family)
        if leaving:
            _refuse("connect_ex", *leaving)
            return errno.ENETUNREACH
        return real_connect_ex(self, address)

    def sendto(self: socket.socket, data: Any, *args: Any) -> int:
        leaving = _checked(args[-1], self.family)
        if leaving:
            raise _refuse("sendto", *leaving)
        return real_sendto(self, data, *args)

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        # A name other than localhost may be sent to a DNS server: that is traffic too.
        if host is not None and host != "" and not is_loopback_host(host) and not _is_ip_literal(host):
            _record("getaddrinfo", host, port)
            raise socket.gaierror(socket.EAI_NONAME, f"netguard: lookup of {host} refused (tests allow loopback only)")
        return real_getaddrinfo(host, port, *args, **kwargs)

    def gethostbyname(host: str) -> str:
        if not is_loopback_host(host) and not _is_ip_literal(host):
            _record("gethostbyname", host, "")
            raise socket.gaierror(socket.EAI_NONAME, f"netguard: lookup of {host} refused (tests allow loopback only)")
        return real_gethostbyname(host)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.socket.sendto = sendto  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname
