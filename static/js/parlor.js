// Parlor's own few lines: htmx does the rest. base.html loads this after htmx and its extensions,
// before DOMContentLoaded, when htmx starts: every listener here is in place before htmx processes
// the page, and nothing here has to start htmx or the page's socket.
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

// Live delivery. Every event carries its id; the page keeps the last one in data-cursor (on the
// body while the WebSocket, which belongs to the body, carries them; on #live once Server-Sent
// Events do). hx-ws reconnects to the URL it holds, so that URL always carries the cursor
// (after=): a socket that drops resumes where it stopped. A page whose socket cannot stay open
// (three short-lived connects in a row, or a close that hx-ws will not retry) switches to
// Server-Sent Events (hx-sse), which resume with Last-Event-ID by themselves.
const SHORT_LIVED_MS = 10000;
let socketFailures = 0;
let socketOpenedAt = 0;
let socketOpen = false;
let socketGivenUp = false;

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

// A pushed text message is rendered once for both people: whose it is (mine or theirs) is set
// here, from its author and the page's viewer.
function markSides() {
  const me = document.body.dataset.me;
  for (const el of document.querySelectorAll(".messages > article.message:not(.mine):not(.theirs)")) {
    el.classList.add(el.dataset.author === me ? "mine" : "theirs");
  }
}

function switchToEventStream(socketOwner) {
  if (socketGivenUp || !socketOwner.dataset.sse) return;
  socketGivenUp = true;  // hx-ws would reconnect the body's socket: see htmx:ws:before:connection
  const stream = document.createElement("div");
  stream.id = "live";
  stream.hidden = true;
  const url = withCursor(socketOwner.dataset.sse, socketOwner.dataset.cursor);
  stream.setAttribute("hx-sse:connect", url.pathname + url.search);
  stream.dataset.transport = "sse";
  document.body.append(stream);
  htmx.process(stream);
}

document.addEventListener("htmx:ws:before:connection", (event) => {
  if (socketGivenUp) {
    event.detail.connection.cancelled = true;
    return;
  }
  const cursor = event.target.dataset.cursor;
  if (cursor) event.detail.connection.url = withCursor(event.detail.connection.url, cursor).href;
});
document.addEventListener("htmx:ws:after:connection", (event) => {
  socketOpenedAt = Date.now();
  socketOpen = true;
  // The session this page was made for has ended (a logout elsewhere, a password change, a
  // suspension): the page shows what it shows now, signed out, instead of private data gone stale.
  event.detail.connection.socket.addEventListener("close", (closed) => {
    if (closed.code === 1008 && closed.reason === "signed out") location.reload();
  });
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
  markSides();
});
document.addEventListener("htmx:ws:close", (event) => {
  socketOpen = false;
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
  markSides();
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

// Sending. The send form has both hx-post and hx-ws:send; each submit goes one way, chosen when
// it is made: over the open socket for text (no HTTP request per message), as a POST for a
// picture or while the page has no socket. The server answers either way with the form again.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.id !== "send-form") return;
  const picture = form.querySelector('input[type="file"]');
  form.dataset.via = socketOpen && !(picture && picture.files.length) ? "socket" : "post";
}, true);  // capture: before htmx's own submit handlers run
document.addEventListener("htmx:config:request", (event) => {
  if (event.target.id === "send-form" && event.target.dataset.via === "socket") event.preventDefault();
});
document.addEventListener("htmx:ws:before:message:outgoing", (event) => {
  if (event.target.id === "send-form" && event.target.dataset.via !== "socket") event.detail.cancelled = true;
});
