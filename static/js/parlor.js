// Parlor's own few lines: htmx does the rest.
"use strict";

// XSRF: every htmx request carries the token from the page's meta tag (forms also post _xsrf).
document.addEventListener("htmx:config:request", (event) => {
  const meta = document.querySelector('meta[name="xsrf-token"]');
  if (meta) event.detail.ctx.request.headers["X-XSRFToken"] = meta.content;
});

// A picture dropped onto a conversation goes through that conversation's own file input and
// form, so it is sent exactly as if it had been chosen with the input.
document.addEventListener("dragover", (event) => {
  if (event.target.closest && event.target.closest("[data-drop-target]")) event.preventDefault();
});
document.addEventListener("drop", (event) => {
  const zone = event.target.closest && event.target.closest("[data-drop-target]");
  if (!zone || !event.dataTransfer || event.dataTransfer.files.length === 0) return;
  event.preventDefault();
  const input = zone.querySelector('input[type="file"]');
  input.files = event.dataTransfer.files;
  input.form.requestSubmit();
});
