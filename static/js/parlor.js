// Parlor's own few lines: htmx does the rest.
"use strict";

// XSRF: every htmx request carries the token from the page's meta tag (forms also post _xsrf).
document.addEventListener("htmx:config:request", (event) => {
  const meta = document.querySelector('meta[name="xsrf-token"]');
  if (meta) event.detail.ctx.request.headers["X-XSRFToken"] = meta.content;
});
