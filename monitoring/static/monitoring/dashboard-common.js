/*
 * Shared helpers of the monitoring dashboard's scripts, loaded first:
 * window.monitoringUI (building elements, formatting numbers, status labels, tables).
 * Every value goes in as text (textContent), never as HTML: routes, SQL and alert texts
 * are data.
 */
(function () {
  "use strict";

  const DASH = "—";
  // The clock shows seconds while the window is short enough for them to matter.
  const ui = { DASH, showSeconds: true };

  const $ = (selector) => document.querySelector(selector);

  /** An element with attributes and children (strings become text nodes). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** "1 request", "2 requests". */
  function plural(n, one, many) {
    return fmt.int(n) + " " + (n === 1 ? one : many || one + "s");
  }

  function setText(selector, text) {
    const node = $(selector);
    if (node) node.textContent = text;
  }

  const fmt = {
    int(n) {
      return n === null || n === undefined ? DASH : Math.round(n).toLocaleString("en");
    },
    num(n, digits) {
      if (n === null || n === undefined) return DASH;
      return n.toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
    },
    ms(n) {
      if (n === null || n === undefined) return DASH;
      return fmt.num(n, n < 10 ? 2 : n < 100 ? 1 : 0);
    },
    pct(ratio) {
      if (ratio === null || ratio === undefined) return DASH;
      const value = ratio * 100;
      return fmt.num(value, value > 0 && value < 1 ? 2 : 1) + "%";
    },
    perSecond(n) {
      return n === null || n === undefined ? DASH : fmt.num(n, n < 10 ? 2 : 1);
    },
    clock(epochSeconds) {
      return new Date(epochSeconds * 1000).toLocaleTimeString([], {
        hour: "2-digit",
        minute: "2-digit",
        second: ui.showSeconds ? "2-digit" : undefined,
      });
    },
    when(iso) {
      if (!iso) return DASH;
      const date = new Date(iso);
      return date.toLocaleString([], {
        month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
      });
    },
  };

  /** A status written out, with a symbol and a tint: never colour alone. */
  function badge(text, tone) {
    const symbol = { ok: "✓ ", warn: "! ", bad: "✕ " }[tone] || "";
    return el("span", { className: "mon-badge mon-" + (tone || "none") }, symbol + text);
  }

  const TONES = {
    ok: "ok", degraded: "warn", error: "bad",
    excellent: "ok", good: "ok", fair: "warn", poor: "bad",
    firing: "bad", pending: "warn", resolved: "ok",
    critical: "bad", warning: "warn", info: "none",
    sent: "ok", failed: "bad",
    regressed: "bad",
  };
  const toned = (text) => badge(text, TONES[text]);

  function cell(content, attrs) {
    return el("td", attrs || {}, content === null || content === undefined ? DASH : content);
  }
  const numCell = (text) => cell(text, { className: "mon-num" });

  /** Replace a table's rows; with no rows, one row saying why it is empty. */
  function fillTable(selector, rows, emptyText) {
    const table = $(selector);
    const body = table.tBodies[0];
    const columns = table.tHead.rows[0].cells.length;
    body.replaceChildren(
      ...(rows.length ? rows : [el("tr", {}, el("td", { colspan: columns, className: "mon-muted" }, emptyText))])
    );
  }

  function safeUrl(url) {
    // Links come from settings (runbook_url); only web addresses become links.
    return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
  }

  Object.assign(ui, { $, el, plural, setText, fmt, badge, toned, cell, numCell, fillTable, safeUrl });
  window.monitoringUI = ui;
})();
