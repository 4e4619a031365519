"""How uvicorn is told whom to believe about a client's address.

uvicorn believes ``X-Forwarded-For`` from 127.0.0.1 by default (or from whatever
``FORWARDED_ALLOW_IPS`` says), so anyone who can reach the port from the same
host, or a proxy that passes the header on untouched, could choose the address
the login limit counts (issue 15).  Awareness believes the header only from the
addresses the operator lists in ``trusted_proxies``; with none, the peer address
of the connection is the client.
"""

from __future__ import annotations

from typing import Any

from ..config.settings import Settings


def server_options(settings: Settings) -> dict[str, Any]:
    """The proxy options for uvicorn.Config / uvicorn.run."""
    if not settings.trusted_proxies:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    return {"proxy_headers": True, "forwarded_allow_ips": ",".join(settings.trusted_proxies)}
