// Telling of new messages: the tab's title carries the unread total (as the Chat link's badge,
// which every event that changes it swaps in), and, if this browser was asked to, a notification
// while the tab is hidden and a short sound while the message's conversation is not in front of
// the person. Neither for a muted person's messages; a notification names the sender only, never
// what was written. Both choices are this browser's (localStorage), made in the account menu.
"use strict";
{  // a block: what is declared here stays in this file

const SOUND_MS = 160;  // a short tone: a sign, not a tune

const title = document.title.replace(/^\(\d+\) /, "");
function showTotal() {
  const badge = document.getElementById("unread-total");
  const total = badge ? Number(badge.dataset.count) || 0 : 0;
  document.title = total ? `(${total}) ${title}` : title;
}

function chosen(name) { return localStorage.getItem(`parlor:${name}`) === "on"; }
function showToggles() {
  for (const toggle of document.querySelectorAll(".menu .toggle")) {
    const name = toggle.dataset.toggle;
    toggle.hidden = name === "notify" && !("Notification" in window);
    toggle.setAttribute("aria-pressed", String(chosen(name) && (name !== "notify" || Notification.permission === "granted")));
  }
}
let audio = null;  // a browser lets it play once the person has clicked or typed on the page
function beep() {
  if (!audio || audio.state !== "running") return;
  const tone = audio.createOscillator(), volume = audio.createGain();
  tone.frequency.value = 880;
  volume.gain.setValueAtTime(0.12, audio.currentTime);
  volume.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + SOUND_MS / 1000);
  tone.connect(volume).connect(audio.destination);
  tone.start();
  tone.stop(audio.currentTime + SOUND_MS / 1000);
}
function wakeAudio() {
  if (!chosen("sound")) return;
  audio = audio || new AudioContext();
  if (audio.state === "suspended") audio.resume();
}
document.addEventListener("keydown", wakeAudio);
document.addEventListener("click", async (event) => {
  wakeAudio();
  const toggle = event.target.closest && event.target.closest(".menu .toggle");
  if (!toggle) return;
  const name = toggle.dataset.toggle, on = toggle.getAttribute("aria-pressed") !== "true";
  if (on && name === "notify" && Notification.permission !== "granted" && await Notification.requestPermission() !== "granted") {
    return showToggles();
  }
  localStorage.setItem(`parlor:${name}`, on ? "on" : "off");
  showToggles();
  if (on && name === "sound") {
    wakeAudio();
    beep();  // this is what it sounds like
  }
});

// Whether the person mutes `author` now: #muted-peers holds "peer:until" pairs, until in ms.
function mutedNow(author) {
  const muted = (document.getElementById("muted-peers") || {value: ""}).value.split(" ");
  return muted.some((entry) => {
    const [peer, until] = entry.split(":");
    return peer === author && Number(until) > Date.now();
  });
}

// A new message from the peer, from whatever the page was pushed (its conversation may not be open).
function fromPeer(frame) {
  if (!frame.content || !frame.content.includes('hx-swap-oob="beforeend"')) return null;
  const pushed = new DOMParser().parseFromString(frame.content, "text/html");  // inert: nothing loads or runs
  const message = pushed.querySelector('[hx-swap-oob="beforeend"] > article.message');
  const me = document.body.dataset.me, author = message && message.dataset.author;
  if (!author || author === me) return null;
  if (mutedNow(author)) return null;
  return {author, name: message.querySelector(".author").textContent};
}
function tell(frame) {
  showTotal();
  const sender = fromPeer(frame);
  if (!sender) return;
  const section = document.getElementById("conversation");
  const inFront = !document.hidden && document.hasFocus() && section && section.dataset.peer === sender.author;
  if (chosen("sound") && !inFront) beep();
  if (chosen("notify") && document.hidden && Notification.permission === "granted") {
    const note = new Notification(`New message from ${sender.name}`, {
      tag: `parlor-${sender.author}`, icon: "/static/favicon.svg", body: "Open Parlor to read it."});
    note.addEventListener("click", () => {
      window.focus();
      if (!section || section.dataset.peer !== sender.author) location.assign(`/chat/${sender.author}`);
    });
  }
}
document.addEventListener("parlor:frame", (event) => tell(event.detail));
document.addEventListener("DOMContentLoaded", () => {
  showTotal();
  showToggles();
  wakeAudio();
});
}
