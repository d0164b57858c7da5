/*
 * The monitoring dashboard page (monitoring/templates/monitoring/dashboard.html).
 *
 * Every refresh_seconds it fetches the JSON endpoints named in the "monitoring-config"
 * element (dashboard/, performance/queries/, performance/cache/, alerts/,
 * alerts/history/, health/) with the visitor's session cookie, and fills in the page:
 * cards, tables (the endpoint table sortable) and, through dashboard-charts.js, the
 * charts. Loaded after dashboard-common.js and dashboard-charts.js.
 */
(function () {
  "use strict";

  const ui = window.monitoringUI;
  const { $, el, plural, setText, fmt, badge, toned, cell, numCell, fillTable, safeUrl, DASH } = ui;
  const config = JSON.parse(document.getElementById("monitoring-config").textContent);
  const RATING_ORDER = { excellent: 0, good: 1, fair: 2, poor: 3 };

  const state = {
    window: config.window,
    paused: false,
    timer: null,
    controller: null,
    sort: { key: "requests", direction: "descending" },
    endpoints: [],
    charts: ui.charts.instances,
  };

  function windowLabel() {
    const found = config.windows.find((w) => w.value === state.window);
    return found ? found.label : state.window;
  }

  // ---- fetching ------------------------------------------------------------------

  class AuthError extends Error {}

  async function getJSON(url, signal, okStatuses) {
    const response = await fetch(url, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" },
      signal,
    });
    if (response.status === 401 || response.status === 403) throw new AuthError(url);
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = null;
    }
    if (!response.ok && !(okStatuses || []).includes(response.status)) {
      const reason = body && body.error ? body.error : "HTTP " + response.status;
      throw new Error(reason);
    }
    return body;
  }

  function sources() {
    const win = "window=" + encodeURIComponent(state.window);
    const e = config.endpoints;
    return {
      dashboard: e.dashboard + "?" + win,
      queries: e.queries + "?" + win + "&limit=10",
      cache: e.cache + "?" + win + "&limit=20",
      alerts: e.alerts,
      history: e.history + "?per_page=" + config.history_items,
      health: e.health,
    };
  }

  const RENDER = {
    dashboard: renderDashboard,
    queries: renderQueries,
    cache: renderCache,
    alerts: renderAlerts,
    history: renderHistory,
    health: renderHealth,
  };

  async function refresh() {
    clearTimeout(state.timer);
    if (state.controller) state.controller.abort();
    const controller = new AbortController();
    state.controller = controller;
    const urls = sources();
    const names = Object.keys(urls);
    const results = await Promise.allSettled(
      // health/ answers 503 with its full document when a check fails.
      names.map((name) => getJSON(urls[name], controller.signal, name === "health" ? [503] : []))
    );
    if (controller.signal.aborted) return;
    if (results.some((r) => r.status === "rejected" && r.reason instanceof AuthError)) {
      sessionEnded();
      return;
    }
    names.forEach((name, i) => showResult(name, results[i]));
    const failed = results.filter((r) => r.status === "rejected").length;
    const when = new Date().toLocaleTimeString();
    // A refresh still on its way when Pause was pressed must not hide that it is paused.
    setText("#mon-status", state.paused
      ? "Paused (last updated " + when + "): press the button again to resume"
      : (failed ? "Partly updated " : "Updated ") + when);
    schedule();
  }

  function showResult(name, result) {
    const note = document.querySelector('.mon-error[data-source="' + name + '"]');
    if (result.status === "fulfilled") {
      if (note) note.hidden = true;
      try {
        RENDER[name](result.value);
      } catch (error) {
        console.warn("monitoring dashboard: cannot show " + name, error);
      }
      return;
    }
    if (result.reason && result.reason.name === "AbortError") return;
    if (note) {
      note.textContent = "Could not load " + sources()[name] + ": " + result.reason.message +
        ". Retrying every " + config.refresh_seconds + " s.";
      note.hidden = false;
    }
  }

  function sessionEnded() {
    const notice = $("#mon-notice");
    notice.replaceChildren(
      "Your session has ended or you may no longer see this page. ",
      el("a", { href: window.location.pathname + window.location.search }, "Reload to log in again"),
      "."
    );
    notice.hidden = false;
    setText("#mon-status", "Stopped");
  }

  function schedule() {
    clearTimeout(state.timer);
    if (!state.paused) state.timer = setTimeout(tick, config.refresh_seconds * 1000);
  }

  function tick() {
    // A hidden tab does not poll; it catches up when shown again (visibilitychange).
    if (document.hidden) return;
    refresh();
  }

  // ---- overview and empty state -----------------------------------------------------

  function scoreTone(score) {
    return score >= 90 ? "ok" : score >= 70 ? "warn" : "bad";
  }

  function renderDashboard(doc) {
    const requests = doc.summary.requests;
    const db = doc.summary.database;
    const cache = doc.summary.cache;
    const scoreText = { ok: "healthy", warn: "degraded", bad: "unhealthy" }[scoreTone(doc.health_score)];
    $("#mon-score").replaceChildren(String(doc.health_score), el("span", { className: "mon-of" }, " / 100"));
    $("#mon-score-text").replaceChildren(badge(scoreText, scoreTone(doc.health_score)));
    setText("#mon-requests", fmt.int(requests.total));
    setText("#mon-requests-text", fmt.perSecond(requests.per_second) + " per second");
    setText("#mon-errors", fmt.pct(requests.error_rate));
    setText("#mon-errors-text", plural(requests.errors_5xx, "request") + " answered 5xx, " + plural(requests.exceptions, "exception"));
    const ms = (n) => (n === null ? DASH : fmt.ms(n) + " ms");
    setText("#mon-latency", ms(requests.p95_ms));
    setText("#mon-latency-text", "p50 " + ms(requests.p50_ms) + " · p99 " + ms(requests.p99_ms));
    setText("#mon-queries", db.queries_per_request === null ? DASH : fmt.num(db.queries_per_request, 1));
    setText("#mon-queries-text", plural(db.queries, "query", "queries") + ", " + fmt.int(db.slow_queries) + " slow, " + plural(db.errors, "error"));
    setText("#mon-cache", fmt.pct(cache.hit_rate));
    setText("#mon-cache-text", plural(cache.hits, "hit") + ", " + plural(cache.misses, "miss", "misses"));
    const system = doc.system || {};
    setText("#mon-host", "CPU " + fmt.num(system.cpu, 0) + "%");
    setText("#mon-host-text", "memory " + fmt.num(system.memory, 0) + "% · disk " + fmt.num(system.disk, 0) + "%");
    showEmptyState(requests.total === 0);
    const baseline = doc.baseline;
    state.endpoints = doc.endpoints.map((row) => {
      const change = baseline ? baseline.routes[row.route] || null : null;
      return {
        ...row,
        error_rate: row.requests ? row.errors_5xx / row.requests : null,
        p95_ratio: change ? change.p95_ratio : null,
        baseline_change: change,
      };
    });
    showBaseline(baseline);
    renderEndpoints();
    ui.charts.render(doc, { window: state.window, label: windowLabel() });
  }

  function showBaseline(baseline) {
    setText("#mon-baseline", baseline
      ? "Compared with the baseline \u201c" + baseline.name + "\u201d (recorded " +
        fmt.when(new Date(baseline.recorded_at * 1000).toISOString()) + " over " +
        Math.round(baseline.window_seconds / 3600 * 10) / 10 + " h); routes with fewer than " +
        baseline.min_requests + " requests on either side are not judged."
      : "No baseline recorded: run manage.py record_baseline NAME to compare with it here.");
  }

  /** p95 against the baseline: "+35%" with the verdict written out. */
  function baselineCell(change) {
    if (!change) return cell(null);
    if (change.p95_ratio === null || change.verdict === "too few requests") {
      return cell(change.verdict === "too few requests" ? "too few requests" : null);
    }
    const percent = Math.round((change.p95_ratio - 1) * 100);
    const text = (percent > 0 ? "+" : percent < 0 ? "\u2212" : "\u00b1") + Math.abs(percent) + "% ";
    return cell([text, toned(change.verdict)], { className: "mon-num" });
  }

  function showEmptyState(empty) {
    const note = $("#mon-empty");
    note.hidden = !empty;
    if (!empty) return;
    note.textContent =
      "No requests recorded in the last " + windowLabel() + ". Monitoring records every " +
      "request the site serves (except its own pages and the paths in EXCLUDE_PATHS) as " +
      "soon as the middleware answers one; is the middleware installed " +
      "(QueryMonitoringMiddleware and CacheMonitoringMiddleware in MIDDLEWARE)? Open a page " +
      "of the site: this page updates every " + config.refresh_seconds + " seconds.";
  }

  // ---- the endpoint table, sortable ------------------------------------------------

  function sortValue(row, key) {
    const value = row[key];
    if (key === "rating") return value in RATING_ORDER ? RATING_ORDER[value] : null;
    return value === undefined ? null : value;
  }

  function sortedEndpoints() {
    const { key, direction } = state.sort;
    const sign = direction === "ascending" ? 1 : -1;
    return state.endpoints.slice().sort((a, b) => {
      const x = sortValue(a, key);
      const y = sortValue(b, key);
      if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1; // no value: last
      if (typeof x === "string") return sign * x.localeCompare(y);
      return sign * (x - y) || a.route.localeCompare(b.route);
    });
  }

  function renderEndpoints() {
    const rows = sortedEndpoints().map((row) => el("tr", {},
      el("th", { scope: "row", className: "mon-route" }, row.route),
      numCell(fmt.int(row.requests)),
      numCell(fmt.int(row.errors_5xx)),
      numCell(fmt.pct(row.error_rate)),
      numCell(fmt.ms(row.p50_ms)),
      numCell(fmt.ms(row.p95_ms)),
      numCell(fmt.ms(row.p99_ms)),
      cell(row.rating ? toned(row.rating) : null),
      numCell(row.queries_per_request === null ? DASH : fmt.num(row.queries_per_request, 1)),
      numCell(fmt.pct(row.cache_hit_rate)),
      baselineCell(row.baseline_change)
    ));
    fillTable("#mon-endpoints", rows, "No requests in the last " + windowLabel() + ".");
    markSortedHeader();
  }

  function markSortedHeader() {
    for (const th of document.querySelectorAll("#mon-endpoints thead th")) {
      const button = th.querySelector("button");
      let mark = button.querySelector(".mon-sort-mark");
      if (!mark) {
        mark = el("span", { className: "mon-sort-mark", "aria-hidden": "true" });
        button.append(mark);
      }
      if (th.dataset.key === state.sort.key) {
        th.setAttribute("aria-sort", state.sort.direction);
        mark.textContent = state.sort.direction === "ascending" ? "▲" : "▼";
      } else {
        th.removeAttribute("aria-sort");
        mark.textContent = "";
      }
    }
  }

  function onSort(event) {
    const th = event.target.closest("th[data-key]");
    if (!th) return;
    const key = th.dataset.key;
    if (state.sort.key === key) {
      state.sort.direction = state.sort.direction === "ascending" ? "descending" : "ascending";
    } else {
      // Names read best A to Z; numbers and ratings worst (largest) first.
      state.sort = { key, direction: key === "route" ? "ascending" : "descending" };
    }
    renderEndpoints();
  }

  // ---- database, cache, health -------------------------------------------------------

  const sqlCell = (sql) => cell(el("code", { className: "mon-sql" }, sql || DASH));
  const fingerprintCell = (fp) => cell(el("code", { className: "mon-fingerprint" }, fp));
  const routeCell = (route) => cell(route === null ? "whole site" : el("span", { className: "mon-route" }, route));

  function renderQueries(doc) {
    fillTable("#mon-slow", doc.slow_queries.map((q) => el("tr", {},
      numCell(fmt.ms(q.duration_ms)), routeCell(q.route), fingerprintCell(q.fingerprint),
      sqlCell(q.sql), cell(fmt.clock(q.at))
    )), "No slow query in the last " + windowLabel() + ".");
    fillTable("#mon-nplusone", doc.n_plus_one.map((q) => el("tr", {},
      routeCell(q.route), fingerprintCell(q.fingerprint), sqlCell(q.sql),
      numCell(fmt.int(q.requests)), numCell(fmt.int(q.max_repetitions))
    )), "No N+1 suspect in the last " + windowLabel() + ".");
    fillTable("#mon-statements", doc.queries.map((q) => el("tr", {},
      fingerprintCell(q.fingerprint), sqlCell(q.sql), numCell(fmt.int(q.count)),
      numCell(fmt.ms(q.total_ms)), numCell(fmt.ms(q.p95_ms)),
      cell(q.routes.slice(0, 3).map((r) => r.route).join(", ") || DASH, { className: "mon-route" })
    )), "No query in the last " + windowLabel() + ".");
  }

  function renderCache(doc) {
    fillTable("#mon-prefixes", doc.prefixes.map((p) => el("tr", {},
      cell(p.cache), cell(el("code", {}, p.prefix)), numCell(fmt.int(p.hits)),
      numCell(fmt.int(p.misses)), numCell(fmt.pct(p.hit_rate))
    )), "No cache read in the last " + windowLabel() + ".");
  }

  function renderHealth(doc) {
    const names = Object.keys(doc.checks).sort();
    const failing = names.filter((n) => doc.checks[n].status !== "ok").length;
    $("#mon-health").replaceChildren(toned(doc.status));
    setText("#mon-health-text", names.length + " checks" + (failing ? ", " + failing + " not ok" : ", all ok"));
    fillTable("#mon-checks", names.map((name) => {
      const check = doc.checks[name];
      return el("tr", {},
        el("th", { scope: "row" }, name), cell(toned(check.status)),
        numCell(fmt.ms(check.duration_ms)), cell(check.message || "")
      );
    }), "No health check configured.");
  }

  // ---- alerts ------------------------------------------------------------------------

  function alertLinks(alert) {
    const links = [];
    const rule = encodeURIComponent(alert.rule);
    if (config.links.history_admin) {
      links.push(el("a", { href: config.links.history_admin + "?rule=" + rule }, "History"));
    }
    links.push(el("a", { href: config.links.history_json + "?rule=" + rule }, "History (JSON)"));
    const runbook = safeUrl(alert.runbook_url);
    if (runbook) links.push(el("a", { href: runbook, rel: "noopener noreferrer" }, "Runbook"));
    return el("td", { className: "mon-links" }, links);
  }

  function renderAlerts(doc) {
    const firing = doc.active.filter((a) => a.status === "firing").length;
    const pending = doc.active.length - firing;
    $("#mon-alert-count").replaceChildren(firing ? badge(String(firing), "bad") : badge("none", "ok"));
    setText("#mon-alert-text", pending + " pending, " + plural(doc.silences.length, "silence"));
    fillTable("#mon-alerts", doc.active.map((a) => el("tr", {},
      cell(toned(a.status)), cell(toned(a.severity)),
      el("th", { scope: "row" }, a.rule), routeCell(a.route),
      numCell(a.value === null ? DASH : fmt.num(a.value, 4)),
      numCell(a.threshold === null ? DASH : fmt.num(a.threshold, 4)),
      cell(fmt.when(a.active_since)),
      cell(a.muted ? "no: " + a.muted : "yes"),
      alertLinks(a)
    )), "No alert is pending or firing. (Alerts are evaluated by the background service, run_monitoring.)");
    fillTable("#mon-silences", doc.silences.map((s) => el("tr", {},
      numCell(String(s.id)),
      cell([s.rule || "every rule", s.route ? " on " + s.route : "", s.severity ? " (" + s.severity + ")" : ""].join("")),
      cell(fmt.when(s.ends_at)), cell(s.comment), cell(s.created_by || DASH)
    )), "No silence in force.");
  }

  function notificationsText(list) {
    if (!list.length) return "none";
    return list.map((n) => n.channel + " " + n.status + (n.status === "sent" ? "" : " (" + plural(n.attempts, "attempt") + ")")).join(", ");
  }

  function renderHistory(doc) {
    fillTable("#mon-history", doc.items.map((e) => el("tr", {},
      cell(fmt.when(e.at)), el("th", { scope: "row" }, e.rule), routeCell(e.route),
      cell([e.from_state + " → ", toned(e.to_state)]), cell(toned(e.severity)),
      cell(notificationsText(e.notifications))
    )), "No alert has changed state yet.");
  }

  // ---- controls ----------------------------------------------------------------------

  function onWindowChange(event) {
    state.window = event.target.value;
    ui.showSeconds = state.window === "5m";
    for (const label of document.querySelectorAll(".mon-window-label")) label.textContent = windowLabel();
    const url = new URL(window.location.href);
    url.searchParams.set("window", state.window);
    window.history.replaceState(null, "", url);
    setText("#mon-status", "Loading " + windowLabel() + "…");
    refresh();
  }

  function onPause(event) {
    // A toggle button: its name stays "Pause updates", aria-pressed says whether it is on.
    state.paused = !state.paused;
    event.currentTarget.setAttribute("aria-pressed", String(state.paused));
    if (state.paused) {
      clearTimeout(state.timer);
      setText("#mon-status", "Paused: press the button again to resume");
    } else {
      refresh();
    }
  }

  function start() {
    ui.showSeconds = state.window === "5m";
    $("#mon-window").addEventListener("change", onWindowChange);
    $("#mon-pause").addEventListener("click", onPause);
    $("#mon-endpoints thead").addEventListener("click", onSort);
    markSortedHeader();
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && !state.paused) refresh();
    });
    if (window.ResizeObserver) new ResizeObserver(ui.charts.resize).observe($("#mon-dashboard"));
    // The theme toggle of the admin: redraw the charts in the new colours.
    const redraw = ui.charts.redraw;
    new MutationObserver(redraw)
      .observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    if (window.matchMedia) window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", redraw);
    refresh();
  }

  // For a look from the browser's console; the page itself does not use it.
  window.monitoringDashboard = { state, refresh };

  start();
})();
