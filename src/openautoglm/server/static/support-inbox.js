// The console's Inbox tab: customer messages the support desk suggested a reply for or handed over
// (GET /v1/support/inbox, operators). An agent sends the draft as it is (approve), sends their edit of it (edit),
// writes a reply of their own to a ticket without a draft (reply), or discards the draft (reject).
// A file of its own beside console.js; like it, every value is rendered with textContent.
"use strict";

(() => {
  const { $ } = window.consoleTabKit;
  const showError = window.consoleTabKit.errorLine("inbox-error");

  async function call(path, body) {
    try {
      return await window.consoleTabKit.call(path, body);
    } catch (err) {
      if (err.status === 403) throw new Error("The inbox is for operators: your key's role cannot open it (403).");
      throw err;
    }
  }

  function sourceText(s) {
    return s.type === "tool" ? `${s.name} ${s.ref || ""}` : `${s.name} (${s.position || ""})`;
  }

  function render(tickets) {
    const list = $("inbox");
    list.replaceChildren();
    for (const t of tickets) {
      const item = $("ticket-template").content.firstElementChild.cloneNode(true);
      item.dataset.id = t.id;
      item.querySelector(".t-route").textContent = t.route === "suggest" ? "suggested reply" : "handed over";
      item.querySelector(".t-confidence").textContent = `confidence ${Number(t.confidence).toFixed(2)}`;
      item.querySelector(".t-message").textContent = t.message;
      item.querySelector(".t-sources").textContent = (t.sources || []).map(sourceText).join("; ") || "no sources";
      const text = item.querySelector(".t-text");
      text.value = t.draft || "";
      text.placeholder = t.draft ? "" : "Write the reply to the customer";
      const reject = item.querySelector(".t-reject");
      reject.hidden = !t.draft;
      item.querySelector(".t-send").addEventListener("click", () => {
        const edited = text.value.trim();
        if (!edited) return showError("The reply is empty.");
        const action = !t.draft ? "reply" : edited === t.draft.trim() ? "approve" : "edit";
        decide(item, t.id, action === "approve" ? { action } : { action, text: edited });
      });
      reject.addEventListener("click", () => decide(item, t.id, { action: "reject" }));
      list.append(item);
    }
    $("inbox-empty").hidden = tickets.length > 0;
  }

  async function load() {
    try {
      render((await call("/v1/support/inbox")).data);
      showError("");
    } catch (err) {
      showError(err.message);
    }
  }

  async function decide(item, id, body) {
    for (const button of item.querySelectorAll("button")) button.disabled = true;
    try {
      const ticket = await call(`/v1/support/inbox/${encodeURIComponent(id)}`, body);
      item.querySelector(".t-status").textContent = ticket.status === "answered" ? "sent to the customer"
        : "draft discarded";
    } catch (err) {
      showError(err.message);
    }
    load();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const tab = document.querySelector('.tab[data-tab="inbox"]');
    if (!tab) return;
    tab.addEventListener("click", load);
    $("inbox-refresh").addEventListener("click", load);
  });
})();
