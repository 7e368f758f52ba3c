// What the console's tab scripts (support-inbox.js, reports.js, policies.js) share: the signed-in API call, a table
// row of text cells and a tab's error line. Loaded before them; it defines window.consoleTabKit and nothing else.
// Like console.js, every value is rendered with textContent.
"use strict";

(() => {
  const KEY_STORE = "autoglm.apiKey"; // console.js keeps the signed-in key there
  const $ = (id) => document.getElementById(id);

  // GET path (or POST body as JSON) with the signed-in key; a non-2xx answer throws an Error whose message is the
  // API's own, followed by the status, and whose .status is that status (for a tab that says more for some).
  async function call(path, body) {
    const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY_STORE)}`, Accept: "application/json" };
    if (body) headers["Content-Type"] = "application/json";
    const res = await fetch(path, { method: body ? "POST" : "GET", headers, body: body && JSON.stringify(body) });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error(`${(data.error && data.error.message) || res.statusText} (${res.status})`);
      err.status = res.status;
      throw err;
    }
    return data;
  }

  // A <tr> of cells: a Node goes in as it is, anything else as text (null as empty).
  function row(cells) {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const td = document.createElement("td");
      if (cell instanceof Node) td.append(cell);
      else td.textContent = cell == null ? "" : String(cell);
      tr.append(td);
    }
    return tr;
  }

  // The function that shows a tab's error line (the element with that id), hidden when the text is empty.
  function errorLine(id) {
    return (text) => {
      const error = $(id);
      error.textContent = text;
      error.hidden = !text;
    };
  }

  window.consoleTabKit = Object.freeze({ $, call, row, errorLine });
})();
