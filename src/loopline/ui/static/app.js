/* Loopline UI behaviour: keyboard, selection for compare, charts (uPlot), console follow.
   No inline scripts (the pages' Content-Security-Policy forbids them): everything hangs off
   data-* attributes in the server-rendered HTML. */
(function () {
  "use strict";

  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  /* ---------- Keyboard ---------- */

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  function rowsOf(table) {
    return Array.from(table.querySelectorAll("tbody tr")).filter((r) => !r.classList.contains("empty-row"));
  }

  function moveCurrent(delta) {
    const table = document.querySelector("table.nav-table");
    if (!table) return false;
    const rows = rowsOf(table);
    if (!rows.length) return false;
    let i = rows.findIndex((r) => r.classList.contains("current"));
    if (i >= 0) rows[i].classList.remove("current");
    i = i < 0 ? (delta > 0 ? 0 : rows.length - 1) : Math.max(0, Math.min(rows.length - 1, i + delta));
    rows[i].classList.add("current");
    rows[i].scrollIntoView({ block: "nearest" });
    return true;
  }

  function currentRow() {
    return document.querySelector("table.nav-table tbody tr.current");
  }

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (typing(e.target)) {
      if (e.key === "Escape") e.target.blur();
      return;
    }
    const filter = document.getElementById("filter") || document.getElementById("prefix");
    switch (e.key) {
      case "/":
        if (filter) { e.preventDefault(); filter.focus(); filter.select(); }
        break;
      case "?": {
        const dialog = document.getElementById("keys");
        if (dialog && !dialog.open) { e.preventDefault(); dialog.showModal(); }
        break;
      }
      case "j": case "ArrowDown":
        if (moveCurrent(1)) e.preventDefault();
        break;
      case "k": case "ArrowUp":
        if (moveCurrent(-1)) e.preventDefault();
        break;
      case "Enter": {
        const row = currentRow();
        const link = row && row.querySelector("a.row-link");
        if (link) { e.preventDefault(); link.click(); }
        break;
      }
      case "x": {
        const row = currentRow();
        const box = row && row.querySelector("input[type=checkbox]");
        if (box) { box.checked = !box.checked; box.dispatchEvent(new Event("change", { bubbles: true })); }
        break;
      }
      case "c": {
        const button = document.getElementById("compare-button");
        if (button && !button.disabled) button.click();
        break;
      }
    }
  });

  /* ---------- Runs table: selection kept in the URL (?sel=) across pages ---------- */

  function setupSelection() {
    const table = document.querySelector("table[data-selectable]");
    const form = document.getElementById("compare-form");
    if (!table || !form) return;
    const url = new URL(window.location.href);
    const selected = new Set((url.searchParams.get("sel") || "").split(",").filter(Boolean));
    const boxes = Array.from(table.querySelectorAll("tbody input[type=checkbox]"));
    const all = document.getElementById("select-page");

    function sync() {
      const ids = Array.from(selected);
      const here = new URL(window.location.href);
      if (ids.length) here.searchParams.set("sel", ids.join(","));
      else here.searchParams.delete("sel");
      history.replaceState(null, "", here);
      document.querySelectorAll("a[data-keep-sel]").forEach((a) => {
        const u = new URL(a.href, window.location.href);
        if (ids.length) u.searchParams.set("sel", ids.join(",")); else u.searchParams.delete("sel");
        a.href = u.toString();
      });
      document.querySelectorAll("input[data-sel-field]").forEach((i) => { i.value = ids.join(","); i.disabled = !ids.length; });
      form.querySelectorAll("input[data-offpage]").forEach((i) => i.remove());
      const onPage = new Set(boxes.map((b) => b.value));
      ids.filter((id) => !onPage.has(id)).forEach((id) => {
        const hidden = document.createElement("input");
        hidden.type = "hidden"; hidden.name = "runs"; hidden.value = id; hidden.dataset.offpage = "";
        form.appendChild(hidden);
      });
      const count = document.getElementById("selected-count");
      if (count) count.textContent = `${ids.length} selected`;
      const button = document.getElementById("compare-button");
      if (button) button.disabled = ids.length < 2;
      boxes.forEach((b) => b.closest("tr").classList.toggle("selected", b.checked));
      if (all) all.checked = boxes.length > 0 && boxes.every((b) => b.checked);
    }

    boxes.forEach((box) => {
      box.checked = selected.has(box.value);
      box.addEventListener("change", () => {
        if (box.checked) selected.add(box.value); else selected.delete(box.value);
        sync();
      });
    });
    if (all) {
      all.addEventListener("change", () => {
        boxes.forEach((b) => { b.checked = all.checked; if (all.checked) selected.add(b.value); else selected.delete(b.value); });
        sync();
      });
    }
    sync();
  }

  function setupAutosubmit() {
    document.querySelectorAll("form[data-autosubmit] select").forEach((select) => {
      select.addEventListener("change", () => select.form.submit());
    });
  }

  function setupTableFilters() {
    document.querySelectorAll("input[data-filters]").forEach((input) => {
      const table = document.getElementById(input.dataset.filters);
      if (!table) return;
      input.addEventListener("input", () => {
        const needle = input.value.trim().toLowerCase();
        table.querySelectorAll("tbody tr").forEach((tr) => {
          tr.hidden = needle !== "" && !tr.textContent.toLowerCase().includes(needle);
        });
      });
    });
  }

  /* ---------- Charts ---------- */

  const PALETTE = ["--s0", "--s1", "--s2", "--s3", "--s4", "--s5", "--s6", "--s7", "--s8", "--s9"];

  function message(el, text) {
    let m = el.querySelector(".chart-message");
    if (!m) { m = document.createElement("div"); m.className = "chart-message"; el.appendChild(m); }
    m.textContent = text;
  }

  function buildChart(el, payload, log) {
    if (el._uplot) { el._uplot.destroy(); el._uplot = null; }
    const ys = payload.y.map((values) => log ? values.map((v) => (v === null || v <= 0 ? null : v)) : values);
    const many = payload.series.length > 1;
    const axis = { stroke: css("--muted"), grid: { stroke: css("--border"), width: 1 }, ticks: { stroke: css("--border"), width: 1 } };
    const xLabel = el.dataset.xLabel || "step";
    const opts = {
      width: Math.max(200, el.clientWidth),
      height: 240,
      scales: { x: { time: "xTime" in el.dataset }, y: log ? { distr: 3 } : {} },
      axes: [Object.assign({ label: xLabel }, axis), Object.assign({ size: 60 }, axis)],
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false, setScale: true } },
      series: [{ label: xLabel, value: (u, v) => (v == null ? "" : v.toLocaleString()) }].concat(
        payload.series.map((s, i) => ({
          label: s.label,
          stroke: css(PALETTE[i % PALETTE.length]),
          width: 1.5,
          spanGaps: many,
          value: (u, v) => (v == null ? "—" : Number(v.toPrecision(6)).toString()),
        }))
      ),
    };
    if ("xTime" in el.dataset) opts.series[0].value = (u, v) => (v == null ? "" : new Date(v * 1000).toLocaleTimeString());
    const u = new uPlot(opts, [payload.x].concat(ys), el);
    el._uplot = u;
    el.dataset.points = String(payload.x.length);
    const old = el.querySelector(".chart-message");
    if (old) old.remove();
    return u;
  }

  function note(card, payload) {
    const target = card.querySelector("[data-note]");
    if (!target) return;
    const total = payload.series.reduce((a, s) => a + s.points, 0);
    const shown = payload.series.reduce((a, s) => a + s.shown, 0);
    target.textContent = shown < total
      ? `${shown.toLocaleString()} of ${total.toLocaleString()} points drawn`
      : `${total.toLocaleString()} point${total === 1 ? "" : "s"}`;
  }

  function loadChart(el) {
    if (el.dataset.loading) return;
    el.dataset.loading = "1";
    const card = el.closest(".chart-card");
    const width = Math.round(el.clientWidth || 600);
    message(el, "Loading…");
    fetch(`${el.dataset.seriesUrl}&width=${width}`, { headers: { Accept: "application/json" } })
      .then((r) => { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then((payload) => {
        el._payload = payload;
        if (!payload.x.length) { message(el, "No points."); return; }
        const logBox = card && card.querySelector("[data-log]");
        buildChart(el, payload, logBox && logBox.checked);
        note(card, payload);
        el.dataset.ready = "1";
      })
      .catch(() => message(el, "The chart data could not be loaded."));
  }

  /* -- serving + features UI: live charts ([data-live]) fetch their data again each time htmx
     swaps in a fresh [data-refreshes-charts] part of the page (the endpoint page polls every few
     seconds); a chart keeps its zoom when its lines are the same. -- */
  function refreshChart(el) {
    if (!el._payload || el.dataset.refreshing) { if (!el._payload && !el.dataset.loading) loadChart(el); return; }
    el.dataset.refreshing = "1";
    const width = Math.round(el.clientWidth || 600);
    fetch(`${el.dataset.seriesUrl}&width=${width}`, { headers: { Accept: "application/json" } })
      .then((r) => { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then((payload) => {
        const old = el._payload;
        el._payload = payload;
        const same = el._uplot && old.series.map((s) => s.label).join("|") === payload.series.map((s) => s.label).join("|");
        if (!payload.x.length) { if (el._uplot) { el._uplot.destroy(); el._uplot = null; } message(el, "No points."); }
        else if (same) el._uplot.setData([payload.x].concat(payload.y));
        else buildChart(el, payload, false);
        note(el.closest(".chart-card"), payload);
        el.dataset.refreshed = String(Number(el.dataset.refreshed || "0") + 1);
      })
      .catch(() => {})
      .finally(() => { delete el.dataset.refreshing; });
  }

  document.addEventListener("htmx:afterSettle", () => {
    if (!document.querySelector("[data-refreshes-charts]") || typeof uPlot === "undefined") return;
    document.querySelectorAll("[data-chart][data-live]").forEach(refreshChart);
  });
  /* -- end of serving + features UI -- */

  function setupCharts() {
    const charts = Array.from(document.querySelectorAll("[data-chart]"));
    if (!charts.length || typeof uPlot === "undefined") return;
    const seen = "IntersectionObserver" in window
      ? new IntersectionObserver((entries) => {
          entries.forEach((e) => { if (e.isIntersecting) { seen.unobserve(e.target); loadChart(e.target); } });
        }, { rootMargin: "300px" })
      : null;
    charts.forEach((el) => {
      if (seen) seen.observe(el); else loadChart(el);
      const card = el.closest(".chart-card");
      if (!card) return;
      const logBox = card.querySelector("[data-log]");
      if (logBox) logBox.addEventListener("change", () => { if (el._payload && el._payload.x.length) buildChart(el, el._payload, logBox.checked); });
      const reset = card.querySelector("[data-reset]");
      if (reset) reset.addEventListener("click", () => {
        const u = el._uplot;
        if (u) u.setScale("x", { min: u.data[0][0], max: u.data[0][u.data[0].length - 1] });
      });
    });
    if ("ResizeObserver" in window) {
      const resized = new ResizeObserver((entries) => {
        entries.forEach((e) => { const u = e.target._uplot; if (u) u.setSize({ width: Math.max(200, e.target.clientWidth), height: 240 }); });
      });
      charts.forEach((el) => resized.observe(el));
    }
  }

  /* ---------- Console: follow the end while the run goes on ---------- */

  function setupConsole() {
    const pre = document.getElementById("console-text");
    if (!pre) return;
    const follow = document.getElementById("console-follow");
    const toEnd = () => { if (!follow || follow.checked) pre.scrollTop = pre.scrollHeight; };
    toEnd();
    document.body.addEventListener("htmx:oobAfterSwap", toEnd);
    document.body.addEventListener("htmx:afterSwap", toEnd);
    document.body.addEventListener("console-complete", () => {
      const state = document.getElementById("console-state");
      if (state) state.textContent = "The run has ended.";
      // The status badge polls every few seconds; bring it up to date now.
      const badge = document.getElementById("run-status");
      const source = badge && badge.getAttribute("hx-get");
      if (source && window.htmx) window.htmx.ajax("GET", source, { target: badge, swap: "outerHTML" });
    });
  }

  function start() {
    setupSelection();
    setupAutosubmit();
    setupTableFilters();
    setupCharts();
    setupConsole();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
