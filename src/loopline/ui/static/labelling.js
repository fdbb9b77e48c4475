/* The labelling page: save each label in the background and move to the next example.
   Keys: Enter saves the label typed (or confirms the one shown) and moves on;
   Shift+Enter saves and stays; Esc leaves the field; n / p (outside a field) go to the next /
   previous example. Without this script, each card's form posts back and the page reloads. */
(function () {
  "use strict";
  const grid = document.getElementById("label-items");
  if (!grid) return;
  const items = () => Array.from(grid.querySelectorAll(".label-item"));

  function focusItem(item) {
    if (!item) {
      const commit = document.getElementById("commit-labels");
      if (commit) commit.focus();
      return;
    }
    const input = item.querySelector(".label-input");
    item.scrollIntoView({ block: "nearest" });
    if (input) { input.focus(); input.select(); }
  }

  function progress(data) {
    const bar = document.getElementById("label-progress");
    if (bar) bar.value = data.done;
    const done = document.querySelector("#label-progress-text [data-done]");
    if (done) done.textContent = String(data.done);
    const waiting = document.querySelector("#label-progress-text [data-waiting]");
    if (waiting) waiting.textContent = String(data.waiting);
  }

  async function save(form, stay) {
    const item = form.closest(".label-item");
    const badge = form.querySelector("[data-status]");
    const body = new URLSearchParams(new FormData(form));
    if (badge) badge.textContent = "saving…";
    try {
      const answer = await fetch(form.action, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      const data = await answer.json();
      if (!answer.ok) {
        if (badge) badge.textContent = "not saved";
        item.classList.add("status-error");
        item.setAttribute("title", (data.error && data.error.message) || "not saved");
        return;
      }
      item.classList.remove("status-todo", "status-reviewed", "status-error");
      item.classList.add("status-waiting");
      item.removeAttribute("title");
      if (badge) badge.textContent = data.status;
      progress(data);
      if (!stay) {
        const all = items();
        focusItem(all[all.indexOf(item) + 1]);
      }
    } catch (err) {
      if (badge) badge.textContent = "not saved (offline?)";
    }
  }

  grid.addEventListener("submit", (e) => {
    const form = e.target.closest(".label-form");
    if (!form) return;
    e.preventDefault();
    save(form, false);
  });

  grid.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && e.shiftKey && e.target.classList.contains("label-input")) {
      e.preventDefault();
      save(e.target.form, true);
    }
  });

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.target.closest("input, textarea, select")) return;
    const all = items();
    const current = all.findIndex((i) => i.contains(document.activeElement));
    if (e.key === "n") { e.preventDefault(); focusItem(all[current + 1] || all[0]); }
    if (e.key === "p") { e.preventDefault(); focusItem(all[Math.max(0, current - 1)]); }
  });

  // Start at the first example still to do.
  const first = items().find((i) => i.classList.contains("status-todo")) || items()[0];
  if (first && !location.hash) focusItem(first);
})();
