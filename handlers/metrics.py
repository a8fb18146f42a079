"""/metrics: this process's metrics in Prometheus text format, for the operator's scraper only."""
from __future__ import annotations

import ipaddress

from prometheus_client.exposition import choose_encoder

from parlor.refusals import Refused

from .base import BaseHandler

# Headers a proxy adds: without --xheaders a request carrying one came through a proxy (whose
# own address, often loopback, says nothing about the client), so it is not the operator's.
PROXY_HEADERS = ("X-Forwarded-For", "X-Real-Ip", "Forwarded")


class MetricsHandler(BaseHandler):
    async def prepare(self) -> None:
        # No session (a scraper has none) and no Redis: /metrics answers even while Redis is down.
        # Information leak: request counts, users online and process details are the operator's.
        if not self.from_operator():
            raise Refused("forbidden", "/metrics is for the operator: allowed from the networks in --metrics-allow.")

    def from_operator(self) -> bool:
        config = self.application.config
        if not config.xheaders and any(name in self.request.headers for name in PROXY_HEADERS):
            return False
        try:
            address = ipaddress.ip_address(self.request.remote_ip)
        except ValueError:
            return False
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 on a dual-stack socket
        return any(address in ipaddress.ip_network(network, strict=False) for network in config.metrics_allow)

    def get(self) -> None:
        encode, content_type = choose_encoder(self.request.headers.get("Accept", ""))
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", "no-store")
        self.finish(encode(self.application.metrics.registry))

    def write_error(self, status_code: int, **kwargs) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        status_code, message = self.error_status(status_code, exc)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish((message if isinstance(exc, Refused) else f"{status_code}") + "\n")
