// A conversation on screen: whose each message is, what has been read, where the reader is.
//
// Reading: a message counts as read once it is on screen in a visible, focused tab; the page
// then sends its read form (over the socket while it is open), and the server moves the read
// marker, tells the peer ("Seen") and every tab of the reader's (counts, badge, title).
// Scrolling: the messages are laid out from the bottom (CSS), so the newest are in view and stay
// in view as more come; a page opens at "New messages" when there is one; scrolled up, the view
// stays where it is and a "New messages ↓" button appears; older messages load as the top comes
// into view (htmx, hx-trigger revealed) without moving what is on screen.
"use strict";
{  // a block: what is declared here stays in this file

const AT_BOTTOM_PX = 48;  // this close to the newest message counts as being there
const READ_CHECK_MS = 250;  // what is on screen is looked at this long after it changes
const SEEK_PAGES = 40;  // older pages (50 messages each) loaded at most to show a quoted message; beyond, its own page opens
const SEEK_WAIT_MS = 10000;  // a page of older messages not loaded in this long: the quoted message's own page opens
const JUMPED_TO_MS = 2000;  // how long a quoted message stays marked once shown

const section = () => document.getElementById("conversation");
const scroller = () => document.querySelector("#conversation .scroller");
const messageList = () => document.querySelector("#conversation .messages");
function lookedAt() { return !document.hidden && document.hasFocus(); }
// The scroller is laid out from its end: scrollTop is 0 at the bottom and negative above it.
function fromBottom(box) { return Math.max(0, -box.scrollTop); }
function toBottom(smooth) {
  const box = scroller();
  if (box) box.scrollTo({top: 0, behavior: smooth ? "smooth" : "instant"});
}

// A message or a conversation row can arrive twice (it was on the page, and in the events after
// the page's cursor): the copy that came second goes.
function dropDuplicates() {
  const seen = new Set();
  for (const el of document.querySelectorAll(".messages > article[id], .conversation-list > li[id]")) {
    if (seen.has(el.id)) el.remove();
    else seen.add(el.id);
  }
}
// A pushed text message is rendered once for both people: whose it is is set here.
function markSides() {
  const me = document.body.dataset.me;
  for (const el of document.querySelectorAll(".messages > article.message:not(.mine):not(.theirs)")) {
    el.classList.add(el.dataset.author === me ? "mine" : "theirs");
  }
}
// Mine up to where the peer has read (the marker a read event swaps in) are "Seen".
function markSeen() {
  const marker = document.querySelector("#conversation .seen-up-to");
  if (!marker) return;
  const upTo = Number(marker.value);
  for (const el of document.querySelectorAll(".messages > article.mine:not(.seen):not(.pending)")) {
    if (Number(el.dataset.id) > upTo) continue;
    el.classList.add("seen");
    const status = el.querySelector(".status");
    if (status) status.textContent = "Seen";
  }
}

// Times and day lines in the reader's own time zone (the server writes UTC).
function dayName(date) {
  const today = new Date(), yesterday = new Date();
  yesterday.setDate(today.getDate() - 1);
  if (date.toDateString() === today.toDateString()) return "Today";
  if (date.toDateString() === yesterday.toDateString()) return "Yesterday";
  const options = {day: "numeric", month: "long"};
  if (date.getFullYear() !== today.getFullYear()) options.year = "numeric";
  return date.toLocaleDateString(undefined, options);
}
function localTimes() {
  const list = messageList();
  if (!list) return;
  for (const time of list.querySelectorAll("article .meta time:not([data-local])")) {
    const at = new Date(time.dateTime);
    time.textContent = at.toLocaleTimeString(undefined, {hour: "numeric", minute: "2-digit"});
    time.title = at.toLocaleString(undefined, {dateStyle: "long", timeStyle: "short"});
    time.dataset.local = "1";
  }
  for (const line of list.querySelectorAll(":scope > .day")) line.remove();
  let day = "";
  for (const message of list.querySelectorAll(":scope > article.message")) {
    const time = message.querySelector(".meta time");
    const at = time ? new Date(time.dateTime) : new Date();
    if (at.toDateString() === day) continue;
    day = at.toDateString();
    const line = document.createElement("p");
    line.className = "day";
    line.appendChild(document.createElement("time")).textContent = dayName(at);
    const before = message.previousElementSibling;
    message.before(line);
    if (before && before.classList.contains("unread-line")) before.after(line);  // the day first, then "New messages"
  }
}

// Reading.
let readUpTo = 0;  // the newest message this page has said it showed
let readTimer = 0;
function checkRead() {
  clearTimeout(readTimer);
  readTimer = setTimeout(reportRead, READ_CHECK_MS);
}
function reportRead() {
  const box = scroller(), form = document.getElementById("read-form");
  if (document.readyState === "loading") return;
  if (!box || !form || !lookedAt() || window.parlorLive.state !== "live") return;
  const view = box.getBoundingClientRect();
  let upTo = readUpTo, theirs = false;
  for (const message of box.querySelectorAll(".messages > article.message[data-id]")) {
    const id = Number(message.dataset.id), place = message.getBoundingClientRect();
    if (id <= readUpTo || place.bottom > view.bottom + 1 || place.bottom < view.top) continue;
    upTo = Math.max(upTo, id);
    theirs = theirs || message.classList.contains("theirs");
  }
  if (!theirs) return;  // only the peer's messages are unread
  readUpTo = upTo;
  sendRead();
}
function sendRead() {
  const form = document.getElementById("read-form");
  form.elements.up_to.value = readUpTo;
  form.dataset.via = window.parlorLive.viaSocket ? "socket" : "post";
  form.requestSubmit();
}

// Where the reader is: at the bottom the newest stay in view; above it, the view keeps still.
let distance = 0;  // from the bottom, as of the last scroll
function onScroll() {
  const box = scroller();
  distance = fromBottom(box);
  if (distance <= AT_BOTTOM_PX) document.querySelector(".new-pill").hidden = true;
  checkRead();
}
function keepPlace(grew) {
  const box = scroller();
  if (!box || distance <= AT_BOTTOM_PX) return;
  box.scrollTop = -(distance + grew);  // what was on screen stays there
  distance = fromBottom(box);
}
let listHeight = 0;
function arrived(added) {
  const box = scroller(), grew = messageList().scrollHeight - listHeight;
  markSeen();
  localTimes();
  const fromPeer = added.filter((el) => el.classList.contains("theirs"));
  if (fromPeer.length && !lookedAt() && !document.getElementById("unread-line")) {
    const line = document.createElement("p");  // while nobody looks, what comes is new to them
    line.id = "unread-line";
    line.className = "unread-line";
    line.appendChild(document.createElement("span")).textContent = "New messages";
    fromPeer[0].before(line);
  }
  if (added.length && distance > AT_BOTTOM_PX) {
    keepPlace(Math.max(0, grew));
    if (fromPeer.length) document.querySelector(".new-pill").hidden = false;
  }
  listHeight = messageList().scrollHeight;
  distance = fromBottom(box);
  checkRead();
}
function shown() { return [...messageList().querySelectorAll(":scope > article.message")]; }
let known = new Set();  // the messages on the page as of the last look
// Something was swapped in: the messages after the last one known are new (older ones come before it).
function settle() {
  dropDuplicates();
  if (!section()) return;
  markSides();
  const all = shown();
  let last = -1;
  all.forEach((el, i) => { if (known.has(el)) last = i; });
  const added = all.slice(last + 1).filter((el) => !el.classList.contains("pending"));
  known = new Set(all);
  arrived(added);
}
document.addEventListener("parlor:frame", settle);
document.addEventListener("htmx:after:swap", settle);
document.addEventListener("parlor:sent", () => toBottom(false));
document.addEventListener("parlor:connection", (event) => {
  if (event.detail.state !== "live" || !section()) return;
  if (readUpTo > Number(section().dataset.readBefore)) sendRead();  // it may not have reached the server
  checkRead();
});
window.addEventListener("focus", checkRead);
document.addEventListener("visibilitychange", checkRead);
document.addEventListener("click", (event) => {
  if (event.target.closest && event.target.closest(".new-pill")) toBottom(true);
});

// A picture opens large over the page (Escape, ×, or a click beside it closes it).
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest(".message a.picture");
  const viewer = document.getElementById("picture-viewer");
  if (viewer && event.target === viewer) viewer.close();
  if (!link || !viewer || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  const picture = viewer.querySelector("img");
  picture.src = link.href;
  picture.alt = link.querySelector("img").alt;
  viewer.showModal();
});
// A reply's quote shows the original: on the page already, or once older pages are loaded (each
// by its "Older messages" link, which htmx fetches); failing that, the link's own page.
function seek(id, fallback, pages) {
  const original = document.getElementById(id);
  if (original) {
    original.scrollIntoView({block: "center"});
    original.classList.add("jumped-to");
    setTimeout(() => original.classList.remove("jumped-to"), JUMPED_TO_MS);
    return;
  }
  const older = document.querySelector("#conversation .messages > a.older");
  if (!older || pages === 0) {
    location.href = fallback;
    return;
  }
  const asked = Date.now();
  older.click();
  const wait = setInterval(() => {  // the link is swapped for the page it loads
    if (older.isConnected && Date.now() - asked < SEEK_WAIT_MS) return;
    clearInterval(wait);
    if (older.isConnected) location.href = fallback;
    else seek(id, fallback, pages - 1);
  }, 50);
}
document.addEventListener("click", (event) => {
  const quote = event.target.closest && event.target.closest(".message a.quote");
  if (!quote || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  seek(quote.dataset.message, quote.href, SEEK_PAGES);
});

// A long press (touch) opens a message's actions, as its "⋯" does.
document.addEventListener("contextmenu", (event) => {
  const message = event.target.closest && event.target.closest(".messages > article.message");
  const button = message && message.querySelector(".actions-button");
  if (!button || !matchMedia("(pointer: coarse)").matches || event.target.closest("a")) return;
  event.preventDefault();
  button.click();
});

document.addEventListener("DOMContentLoaded", () => {
  if (!section()) {
    dropDuplicates();
    return;
  }
  markSides();
  markSeen();
  localTimes();
  const all = shown();
  known = new Set(all);
  readUpTo = Number(section().dataset.readBefore) || 0;  // what this page shows is read as it is shown
  listHeight = messageList().scrollHeight;
  const line = document.getElementById("unread-line");
  if (line) line.scrollIntoView({block: "start"});
  scroller().addEventListener("scroll", onScroll, {passive: true});
  distance = fromBottom(scroller());
  checkRead();
});
}
