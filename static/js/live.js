// The page's live connection: htmx's hx-ws opens it (on the body) and swaps what it brings; this
// keeps its cursor, tells the person when it is down, and brings it back.
//
// Every event carries its id; the page keeps the last one in data-cursor (on the body while the
// WebSocket carries them; on #live once Server-Sent Events do). hx-ws reconnects to the URL it
// holds, so that URL always carries the cursor (after=): a socket that drops resumes where it
// stopped. A page whose socket cannot stay open (three short-lived connects in a row, or a close
// that hx-ws will not retry) switches to Server-Sent Events (hx-sse), which resume with
// Last-Event-ID by themselves.
//
// An open socket may go quiet without closing (the network went away under it): the page asks
// every HEARTBEAT_MS and whenever it sends a message, and a question not answered in ANSWER_MS
// gives the socket up: a new one replaces it, as
// is the socket of a browser that says it went offline, once it is back. Meanwhile a notice says
// so ("Reconnecting…", "Offline" with Retry). Other scripts learn the state from the
// "parlor:connection" event and window.parlorLive.
"use strict";
{  // a block: what is declared here stays in this file

const SHORT_LIVED_MS = 10000;  // a socket that closes sooner than this counts as failing
const HEARTBEAT_MS = 10000;  // a socket is asked whether it is alive this often
const ANSWER_MS = 4000;  // a heartbeat not answered in this long: the connection is down
const NOTICE_DELAY_MS = 1000;  // "Reconnecting…" waits this long: a quick reconnect shows nothing

const parlorLive = window.parlorLive = {
  state: "connecting",  // connecting | live | reconnecting | offline
  socket: null,  // the open WebSocket, while there is one
  viaSocket: true,  // false once the page switched to Server-Sent Events
};
let socketFailures = 0;
let socketOpenedAt = 0;
let answerTimer = 0;
let noticeTimer = 0;

function withCursor(url, cursor) {
  const u = new URL(url, location.href);
  if (cursor) u.searchParams.set("after", cursor);
  return u;
}

function setState(state) {
  if (state === "reconnecting" && !navigator.onLine) state = "offline";
  if (parlorLive.state === state) return;
  parlorLive.state = state;
  showState(state);
  document.dispatchEvent(new CustomEvent("parlor:connection", {detail: {state}}));
}

function showState(state) {
  const notice = document.getElementById("connection");
  if (!notice) return;
  clearTimeout(noticeTimer);
  const show = () => {
    notice.querySelector(".connection-text").textContent = state === "offline"
      ? "Offline: what you send waits until you are back." : "Reconnecting…";
    notice.querySelector(".connection-retry").hidden = false;
    notice.hidden = false;
  };
  if (state === "live" || state === "connecting") notice.hidden = true;
  else if (state === "offline" || !notice.hidden) show();
  else noticeTimer = setTimeout(show, NOTICE_DELAY_MS);
}

// A new socket now, resuming after the cursor: the body's hx-ws:connect is given the cursor and
// htmx wires the page again (htmx.process with force tears down the old socket first).
function reconnect() {
  if (!parlorLive.viaSocket) return;
  clearTimeout(answerTimer);
  answerTimer = 0;
  const body = document.body;
  const url = withCursor(body.getAttribute("hx-ws:connect"), body.dataset.cursor);
  body.setAttribute("hx-ws:connect", url.pathname + url.search);
  if (parlorLive.state !== "offline") setState("reconnecting");
  htmx.process(body, true);
}

function heard() {
  clearTimeout(answerTimer);
  answerTimer = 0;
  setState("live");
}

function ping() {
  const socket = parlorLive.socket;
  if (!socket || socket.readyState !== WebSocket.OPEN || answerTimer) return;
  socket.send('{"ping": 1}');
  answerTimer = setTimeout(() => { answerTimer = 0; reconnect(); }, ANSWER_MS);
}
setInterval(ping, HEARTBEAT_MS);

window.addEventListener("offline", () => {
  setState("offline");
  const socket = parlorLive.socket;
  if (socket) socket.close();  // it may stay open, silent: it is replaced when the browser is back
});
window.addEventListener("online", () => {
  if (parlorLive.viaSocket) reconnect();
  else setState("live");  // an event stream reconnects by itself
});
document.addEventListener("visibilitychange", () => { if (!document.hidden) ping(); });
document.addEventListener("parlor:sent", ping);  // a message on its way: is anyone listening?
document.addEventListener("click", (event) => {
  if (event.target.closest(".connection-retry")) reconnect();
});

function switchToEventStream(socketOwner) {
  if (!parlorLive.viaSocket || !socketOwner.dataset.sse) return;
  parlorLive.viaSocket = false;  // hx-ws would reconnect the body's socket: see htmx:ws:before:connection
  const stream = document.createElement("div");
  stream.id = "live";
  stream.hidden = true;
  const url = withCursor(socketOwner.dataset.sse, socketOwner.dataset.cursor);
  stream.setAttribute("hx-sse:connect", url.pathname + url.search);
  stream.dataset.transport = "sse";
  document.body.append(stream);
  htmx.process(stream);
}

// The page's frames have come: whatever they changed is on the page now.
function arrived(frame) {
  document.dispatchEvent(new CustomEvent("parlor:frame", {detail: frame}));
}

document.addEventListener("htmx:ws:before:connection", (event) => {
  if (!parlorLive.viaSocket) {
    event.detail.connection.cancelled = true;
    return;
  }
  const cursor = event.target.dataset.cursor;
  if (cursor) event.detail.connection.url = withCursor(event.detail.connection.url, cursor).href;
});
document.addEventListener("htmx:ws:after:connection", (event) => {
  socketOpenedAt = Date.now();
  const socket = parlorLive.socket = event.detail.connection.socket;
  heard();
  // The session this page was made for has ended (a logout elsewhere, a password change, a
  // suspension): the page shows what it shows now, signed out, instead of private data gone stale.
  socket.addEventListener("close", (closed) => {
    if (closed.code === 1008 && closed.reason === "signed out") location.reload();
  });
});
document.addEventListener("htmx:ws:after:message:incoming", (event) => {
  if (event.detail.connection.socket === parlorLive.socket) heard();
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
  if (frame.content !== undefined) arrived(frame);
});
document.addEventListener("htmx:ws:close", (event) => {
  const { reason, code, connection } = event.detail;
  if (connection.socket === parlorLive.socket || reason === "removed") parlorLive.socket = null;
  if (reason !== "closed") return;
  if (code !== 1008) setState("reconnecting");  // 1008: signed out, or too many tabs: not coming back
  const lived = socketOpenedAt && Date.now() - socketOpenedAt >= SHORT_LIVED_MS;
  socketOpenedAt = 0;
  if (!navigator.onLine) return;  // not the socket's failing: the browser is offline
  socketFailures = lived ? 0 : socketFailures + 1;
  if (code !== 1008 && (socketFailures >= 3 || !connection.config.reconnectCodes.includes(code))) {
    switchToEventStream(event.target);
  }
});
document.addEventListener("htmx:sse:after:message", (event) => {
  if (event.detail.message.id) event.target.dataset.cursor = event.detail.message.id;
  setState("live");
  arrived({id: event.detail.message.id, content: event.detail.message.data});
});
document.addEventListener("parlor-reload", () => location.reload());
// hx-sse retries a stream that broke, not one whose first request failed (a 503 while Redis
// restarts): that one is made again, a little later each time.
let streamRetryMs = 1000;
function retryEventStream(event) {
  const stream = event.target;
  if (stream.id !== "live" || stream.dataset.transport !== "sse") return;
  setState("reconnecting");
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
document.addEventListener("htmx:sse:after:connection", () => {
  streamRetryMs = 1000;
  setState("live");
});

// A form with both hx-post and hx-ws:send (the composer, a waiting message, the read form) goes
// one way, chosen when it is submitted (data-via, set by whoever submits it; the composer's
// choice is js/composer.js's): over the open socket, or as a POST.
document.addEventListener("htmx:config:request", (event) => {
  if (event.target.dataset.via === "socket") event.preventDefault();
});
document.addEventListener("htmx:ws:before:message:outgoing", (event) => {
  if (event.target.dataset && event.target.dataset.via !== "socket") event.detail.cancelled = true;
});
}
