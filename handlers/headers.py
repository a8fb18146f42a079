"""The headers every answer carries: the security headers, the cache rule, HSTS over https, and
the Server header without a version (for static files and the WebSocket's handshake too)."""
from __future__ import annotations

import tornado.web

# XSS: no inline script, no eval (htmx runs without both), nothing loaded from elsewhere.
# Clickjacking: frame-ancestors 'none'.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
# Reconnaissance: Tornado's own Server header names its version, so which of its bugs to try.
SERVER_NAME = "Parlor"
# On every answer. Constant and known to be valid, so they are put in as they are: Tornado's
# set_header would check each one again on every request.
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Server": SERVER_NAME,
}
# Shared caches and the back button after logout: every answer depends on the cookies (a
# signed-in user's page, a guest's games, the XSRF token in every form, an error page naming
# the user), so none is stored, unless its handler says otherwise (a picture, a public board).
# It is a default header, so an error answer (send_error clears the headers) carries it too.
PRIVATE_CACHE_CONTROL = "no-store"
# Downgrade to http (sslstrip): once a browser reached Parlor over https (directly, or through a
# proxy that says so with --xheaders), it uses nothing else for a year.
HSTS = "max-age=31536000"


def transport_headers(handler: tornado.web.RequestHandler) -> dict[str, str]:
    """Headers that depend on how the request came: HSTS over https."""
    return {"Strict-Transport-Security": HSTS} if handler.request.protocol == "https" else {}


class PlainServerHeader:
    """Names the server without its version, and HSTS over https, for handlers that are not a
    BaseHandler (static files, the WebSocket's handshake)."""

    def set_default_headers(self) -> None:
        self.set_header("Server", SERVER_NAME)
        for name, value in transport_headers(self).items():
            self.set_header(name, value)


class StaticFiles(PlainServerHeader, tornado.web.StaticFileHandler):
    """static/ as Tornado serves it, with the plain Server header."""
