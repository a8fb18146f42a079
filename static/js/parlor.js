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

// Live delivery. Every event carries its id; the page keeps the last one in #live's data-cursor.
// hx-ws reconnects to the URL it holds, so that URL always carries the cursor (after=): a socket
// that drops resumes where it stopped. A page whose socket cannot stay open (three short-lived
// connects in a row, or a close that hx-ws will not retry) switches to Server-Sent Events
// (hx-sse), which resume with Last-Event-ID by themselves.
const SHORT_LIVED_MS = 10000;
let socketFailures = 0;
let socketOpenedAt = 0;

function withCursor(url, cursor) {
  const u = new URL(url, location.href);
  if (cursor) u.searchParams.set("after", cursor);
  return u;
}

// A message or a conversation row can arrive twice (it was on the page, and in the events
// after the page's cursor): the copy that came second goes.
function dropDuplicates() {
  const seen = new Set();
  for (const el of document.querySelectorAll(".messages > article[id], .conversation-list > li[id]")) {
    if (seen.has(el.id)) el.remove();
    else seen.add(el.id);
  }
}

function switchToEventStream(socketElement) {
  if (!socketElement.isConnected || !socketElement.dataset.sse) return;
  const stream = document.createElement("div");
  stream.id = "live";
  stream.hidden = true;
  const url = withCursor(socketElement.dataset.sse, socketElement.dataset.cursor);
  stream.setAttribute("hx-sse:connect", url.pathname + url.search);
  stream.dataset.transport = "sse";
  socketElement.replaceWith(stream);
  htmx.process(stream);
}

document.addEventListener("htmx:ws:before:connection", (event) => {
  const cursor = event.target.dataset.cursor;
  if (cursor) event.detail.connection.url = withCursor(event.detail.connection.url, cursor).href;
});
document.addEventListener("htmx:ws:after:connection", () => {
  socketOpenedAt = Date.now();
});
document.addEventListener("htmx:ws:after:message:incoming", (event) => {
  const data = event.detail.message.data;
  if (typeof data !== "string" || data[0] !== "{") return;
  const frame = JSON.parse(data);
  if (frame.reload) {
    location.reload();  // the events since this page was made are no longer kept
    return;
  }
  if (frame.id) {
    event.target.dataset.cursor = frame.id;
    event.detail.connection.url = withCursor(event.detail.connection.url, frame.id).href;
  }
  dropDuplicates();
});
document.addEventListener("htmx:ws:close", (event) => {
  const { reason, code, connection } = event.detail;
  if (reason !== "closed" || document.hidden || code === 1008) return;  // 1008: too many tabs
  const lived = socketOpenedAt && Date.now() - socketOpenedAt >= SHORT_LIVED_MS;
  socketOpenedAt = 0;
  socketFailures = lived ? 0 : socketFailures + 1;
  if (socketFailures >= 3 || !connection.config.reconnectCodes.includes(code)) {
    switchToEventStream(event.target);
  }
});
document.addEventListener("htmx:sse:after:message", (event) => {
  if (event.detail.message.id) event.target.dataset.cursor = event.detail.message.id;
  dropDuplicates();
});
document.addEventListener("parlor-reload", () => location.reload());
// hx-sse retries a stream that broke, not one whose first request failed (a 503 while Redis
// restarts): that one is made again, a little later each time.
let streamRetryMs = 1000;
function retryEventStream(event) {
  const stream = event.target;
  if (stream.id !== "live" || stream.dataset.transport !== "sse") return;
  setTimeout(() => {
    if (!stream.isConnected) return;
    const again = stream.cloneNode(false);
    const url = withCursor(stream.getAttribute("hx-sse:connect"), stream.dataset.cursor);
    again.setAttribute("hx-sse:connect", url.pathname + url.search);
    stream.replaceWith(again);
    htmx.process(again);
  }, streamRetryMs);
  streamRetryMs = Math.min(streamRetryMs * 2, 30000);
}
document.addEventListener("htmx:response:error", retryEventStream);
document.addEventListener("htmx:error", retryEventStream);
document.addEventListener("htmx:sse:after:connection", () => { streamRetryMs = 1000; });

// htmx starts on a timer once the deferred scripts begin to run, so on a busy machine it can
// process the page before hx-ws has registered: #live is then left alone and the page never goes
// live. This script runs after the extensions; it starts #live if htmx passed it by.
const liveElement = document.getElementById("live");
if (liveElement && !liveElement.hasAttribute("data-htmx-powered")) htmx.process(liveElement);
