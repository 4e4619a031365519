"""Who may read /metrics (issue 15).

The metrics name every source and profile and show how runs go: not for the
whole internet.  With ``metrics_token`` set, a scraper sends it as
``Authorization: Bearer <token>`` from anywhere.  Without it, only this host
may read them, and a request that came through a proxy (it carries
X-Forwarded-For or Forwarded while no ``trusted_proxies`` are configured) is
not taken for this host.
"""

from __future__ import annotations

import hmac
import ipaddress

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..config.settings import Settings


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def metrics_refusal(settings: Settings, request: Request) -> Response | None:
    """None when the request may read the metrics; otherwise the 401/403 to answer."""
    token = settings.metrics_token
    given = request.headers.get("authorization", "")
    if token:
        if given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), token.encode()):
            return None
        return JSONResponse({"error": "a valid 'Authorization: Bearer <metrics_token>' header is needed"},
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})
    proxied = not settings.trusted_proxies and ("x-forwarded-for" in request.headers
                                                or "forwarded" in request.headers)
    if request.client is not None and _loopback(request.client.host) and not proxied:
        return None
    return JSONResponse({"error": "the metrics are served to this host only; set metrics_token to let a "
                                  "scraper elsewhere read them"}, status_code=403)
