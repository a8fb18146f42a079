// The composer of a conversation, and what it sends. Enter sends, Shift+Enter is a new line; a
// picture pasted or dropped is attached (dropped: sent at once); what is typed is kept per
// conversation in this browser until it is sent. Without a script the form posts as it is.
//
// Text leaves the box at once and waits in a bubble of its own (a copy of #pending-template: a
// small form holding the text and the message's client id), sent over the page's socket while
// the connection is live (as a POST once the page uses an event stream), and again after every
// reconnect until the message itself arrives; a refusal, or no answer within SEND_TIMEOUT_MS,
// shows "Not sent" and Retry. The client id makes every resend the same message: stored once.
"use strict";
{  // a block: what is declared here stays in this file

const SEND_TIMEOUT_MS = 10000;  // a send not answered in this long shows "Not sent"
const DRAFT_SAVE_MS = 300;  // typing pauses this long before the draft is kept

function composerBox() { return document.getElementById("message-body"); }
function draftKey() {
  const section = document.getElementById("conversation");
  return section && `parlor:draft:${document.body.dataset.me}:${section.dataset.peer}`;
}
function newClientId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
// How a send goes now: over the socket, as a POST, or not yet (the connection is down).
function sendVia() {
  const live = window.parlorLive;
  if (live.state !== "live") return null;
  return live.viaSocket ? "socket" : "post";
}

// Drafts: kept while typing, put back when the conversation opens again, gone once sent.
let draftTimer = 0;
document.addEventListener("input", (event) => {
  if (event.target !== composerBox()) return;
  clearTimeout(draftTimer);
  draftTimer = setTimeout(() => {
    const key = draftKey(), text = composerBox() && composerBox().value;
    if (!key) return;
    if (text) localStorage.setItem(key, text);
    else localStorage.removeItem(key);
  }, DRAFT_SAVE_MS);
});
document.addEventListener("DOMContentLoaded", () => {
  const box = composerBox(), key = draftKey();
  const draft = key && localStorage.getItem(key);
  if (box && draft && !box.value) box.value = draft;
});
document.addEventListener("submit", (event) => {  // whoever logs out takes their drafts along
  if (!event.target.matches('form[action="/logout"]')) return;
  const prefix = `parlor:draft:${document.body.dataset.me}:`;
  for (const key of Object.keys(localStorage)) if (key.startsWith(prefix)) localStorage.removeItem(key);
});

// Enter sends (not while an input method is composing a character); Shift+Enter is a new line.
document.addEventListener("keydown", (event) => {
  if (event.target !== composerBox() || event.key !== "Enter" || event.shiftKey || event.isComposing) return;
  event.preventDefault();
  event.target.form.requestSubmit();
});

// A picture chosen, pasted or dropped is named above the box, with a way to take it back.
function attach(files, sendNow) {
  const input = document.getElementById("message-image");
  if (!input || !files.length) return;
  input.files = files;
  showAttached(input);
  if (sendNow) input.form.requestSubmit();
}
function showAttached(input) {
  const chip = input.form.querySelector(".attached");
  const file = input.files[0];
  chip.hidden = !file;
  chip.querySelector(".file-name").textContent = file ? `Picture: ${file.name}` : "";
}
document.addEventListener("change", (event) => {
  if (event.target.id === "message-image") showAttached(event.target);
});
document.addEventListener("click", (event) => {
  const button = event.target.closest && event.target.closest(".unattach");
  if (!button) return;
  const input = document.getElementById("message-image");
  input.value = "";
  showAttached(input);
  composerBox().focus();
});
document.addEventListener("paste", (event) => {
  if (!event.target.closest || !event.target.closest("#send-form")) return;
  const pictures = [...event.clipboardData.files].filter((file) => file.type.startsWith("image/"));
  if (!pictures.length) return;  // text pastes as text
  event.preventDefault();
  const transfer = new DataTransfer();
  transfer.items.add(pictures[0]);
  attach(transfer.files, false);
});
document.addEventListener("dragover", (event) => {
  if (event.target.closest && event.target.closest("[data-drop-target]")) event.preventDefault();
});
document.addEventListener("drop", (event) => {
  const zone = event.target.closest && event.target.closest("[data-drop-target]");
  if (!zone || !event.dataTransfer || event.dataTransfer.files.length === 0) return;
  event.preventDefault();
  attach(event.dataTransfer.files, true);
});

// Replying: the message's Reply fills the slot above the box (htmx), and the box takes the focus;
// its cross empties the slot (without a script, it is a link to the conversation as it was).
document.addEventListener("click", (event) => {
  const item = event.target.closest && event.target.closest(".menu a.reply, .cancel-reply");
  if (!item || !composerBox()) return;
  if (item.classList.contains("cancel-reply")) {
    event.preventDefault();
    document.getElementById("reply-slot").replaceChildren();
  }
  composerBox().focus();
});

// Sending. A picture is posted with the form (htmx swaps a fresh one in); text waits in a bubble.
function addPending(text) {
  const form = document.getElementById("send-form");
  const clientId = form.elements.client_id.value;
  const replyTo = form.elements.reply_to ? form.elements.reply_to.value : "";
  const bubble = document.getElementById("pending-template").content.firstElementChild.cloneNode(true);
  bubble.id = `pending-${clientId}`;
  bubble.dataset.clientId = clientId;
  bubble.querySelector(".body").textContent = text;
  bubble.querySelector(".status").id = `send-state-${clientId}`;
  const resend = bubble.querySelector("form");
  resend.elements.body.value = text;
  resend.elements.client_id.value = clientId;
  resend.elements.reply_to.value = replyTo;
  document.getElementById("reply-slot").replaceChildren();  // the answer is on its way
  document.querySelector("#conversation .messages").append(bubble);
  htmx.process(bubble);
  form.elements.client_id.value = newClientId();  // the next message is another one
  document.dispatchEvent(new CustomEvent("parlor:sent", {detail: bubble}));
  resend.requestSubmit();
}
function setState(bubble, text, failed) {
  const status = bubble.querySelector(".status");
  status.textContent = text;
  status.classList.toggle("failed", failed);
  if (failed) status.setAttribute("role", "alert");
  else status.removeAttribute("role");
  status.dataset.by = "page";  // not the server's answer: a reconnect tries again
}
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.id === "send-form") {
    const picture = form.querySelector('input[type="file"]');
    if (picture && picture.files.length) {
      form.dataset.via = "post";
      localStorage.removeItem(draftKey());
      return;  // htmx posts the form
    }
    event.preventDefault();
    event.stopPropagation();  // htmx sends nothing of this form itself
    const box = composerBox(), text = box.value.trim();
    if (!text) return;
    box.value = "";
    localStorage.removeItem(draftKey());
    addPending(text);
    box.focus();
  } else if (form.classList.contains("resend")) {
    const bubble = form.closest(".pending"), via = sendVia();
    clearTimeout(bubble.timer);
    if (!via) {
      event.preventDefault();
      event.stopPropagation();
      setState(bubble, "Waiting for the connection…", false);
      return;
    }
    form.dataset.via = via;
    setState(bubble, "Sending…", false);
    bubble.timer = setTimeout(() => setState(bubble, "Not sent: no answer from Parlor.", true), SEND_TIMEOUT_MS);
  }
}, true);  // capture: before htmx's own submit handlers run

// A waiting message whose message arrived goes; one answered stops waiting for the answer.
function settlePending() {
  for (const bubble of document.querySelectorAll(".messages > .pending")) {
    const clientId = CSS.escape(bubble.dataset.clientId);
    const status = bubble.querySelector(".status");
    if (document.querySelector(`.messages > article.message[data-client-id="${clientId}"]:not(.pending)`)) {
      clearTimeout(bubble.timer);
      bubble.remove();
    } else if (!status.dataset.by) {
      clearTimeout(bubble.timer);  // the server's answer: Sent (its message is on its way), or why not
    }
  }
}
document.addEventListener("parlor:frame", settlePending);
document.addEventListener("htmx:after:request", settlePending);
document.addEventListener("parlor:connection", (event) => {
  if (event.detail.state !== "live") return;
  for (const bubble of document.querySelectorAll(".messages > .pending")) {
    const status = bubble.querySelector(".status");
    if (status.dataset.by === "page") bubble.querySelector("form").requestSubmit();
  }
});
}
