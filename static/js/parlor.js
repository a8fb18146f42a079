// Parlor's own few lines: htmx does the fetching and swapping. base.html loads this after htmx
// and its extensions, before DOMContentLoaded, when htmx starts: every listener here is in place
// before htmx processes the page. The rest is by job: live.js (the connection), composer.js (what
// is written and sent), conversation.js (what is shown and read), notify.js (title, notices, sound).
"use strict";
{  // a block: what is declared here stays in this file

// This browser runs the page's script: a conversation it opens is marked read as it is shown
// (js/conversation.js), not all at once when the page is made (handlers/chat.py SCRIPT_COOKIE).
document.cookie = "parlor_script=1; path=/; max-age=31536000; SameSite=Lax";

// XSRF: every htmx request carries the token from the page's meta tag (forms also post _xsrf).
document.addEventListener("htmx:config:request", (event) => {
  const meta = document.querySelector('meta[name="xsrf-token"]');
  if (meta) event.detail.ctx.request.headers["X-XSRFToken"] = meta.content;
});

// hx-confirm asks in a dialog of the page's own (the browser's confirm() is easy to click
// through, and blocks the page): Escape or Cancel keeps things as they are.
function confirmDialog() {
  let dialog = document.getElementById("confirm-dialog");
  if (dialog) return dialog;
  dialog = document.createElement("dialog");
  dialog.id = "confirm-dialog";
  dialog.className = "confirm-dialog";
  const form = dialog.appendChild(document.createElement("form"));
  form.method = "dialog";
  form.appendChild(document.createElement("p")).className = "question";
  const choices = form.appendChild(document.createElement("div"));
  choices.className = "choices";
  for (const [value, text, kind] of [["cancel", "Cancel", "secondary"], ["confirm", "Delete", ""]]) {
    const button = choices.appendChild(document.createElement("button"));
    button.value = value;
    button.textContent = text;
    button.className = kind;
  }
  document.body.append(dialog);
  return dialog;
}
document.addEventListener("htmx:confirm", (event) => {
  event.preventDefault();
  const dialog = confirmDialog();
  dialog.querySelector(".question").textContent = event.detail.ctx.confirm;
  dialog.returnValue = "cancel";
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "confirm") event.detail.issueRequest();
    else event.detail.dropRequest();
  }, {once: true});
  dialog.showModal();
  dialog.querySelector('button[value="cancel"]').focus();
});

// A menu (a popover) closes once one of its items is chosen; its toggles stay open.
document.addEventListener("click", (event) => {
  const item = event.target.closest && event.target.closest(".menu a, .menu button:not(.toggle)");
  const menu = item && item.closest("[popover]");
  if (menu && menu.matches(":popover-open")) menu.hidePopover();
});
}
