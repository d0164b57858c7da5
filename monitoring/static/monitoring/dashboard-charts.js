/*
 * The dashboard's time-series charts, drawn with uPlot (window.uPlot, vendored under
 * vendor/uplot/), with a text alternative: a summary under each chart and the numbers in
 * a table. Loaded after dashboard-common.js; used by dashboard.js as monitoringUI.charts.
 */
(function () {
  "use strict";

  const ui = window.monitoringUI;
  const { $, el, fmt, setText, cell, numCell, fillTable, DASH } = ui;
  // The uPlot instances by name, and what the page shows now ({window, label}).
  const instances = {};
  let view = { window: "5m", label: "5 minutes" };
  let lastDocument = null;

  /** The window's steps, every one of them (a step without traffic has no bucket). */
  function seriesOf(doc) {
    const step = doc.series.step_seconds;
    const byStart = new Map(doc.series.points.map((p) => [p.start, p]));
    const first = Math.floor(doc.window.start / step) * step;
    const columns = { x: [], rps: [], eps: [], rate: [], p50: [], p95: [], p99: [], points: [] };
    for (let start = first; start < doc.window.end; start += step) {
      const p = byStart.get(start) || { start, requests: 0, errors_5xx: 0, p50_ms: null, p95_ms: null, p99_ms: null };
      columns.x.push(start);
      columns.rps.push(p.requests / step);
      columns.eps.push(p.errors_5xx / step);
      columns.rate.push(p.requests ? (p.errors_5xx / p.requests) * 100 : null);
      columns.p50.push(p.p50_ms);
      columns.p95.push(p.p95_ms);
      columns.p99.push(p.p99_ms);
      columns.points.push(p);
    }
    return columns;
  }

  function cssColour(name, fallback) {
    const root = $("#mon-dashboard");
    const value = root ? getComputedStyle(root).getPropertyValue(name).trim() : "";
    return value || fallback;
  }

  function chartOptions(width, series, unit) {
    const axis = cssColour("--mon-quiet", "#595959");
    const grid = cssColour("--mon-line", "#e8e8e8");
    const valueFormat = (u, values) => values.map((v) => (v === null ? "" : fmt.num(v, v < 10 ? 2 : 0) + unit));
    return {
      width: width,
      height: 180,
      scales: {
        // The whole window, even where nothing was recorded yet (read at each redraw).
        x: { time: true, range: () => [lastDocument.window.start, lastDocument.window.end] },
        // From zero, and at least to 1 (/s, %, ms) so that an idle window reads as such.
        y: { range: (u, min, max) => [0, Math.max(max || 0, 1) * 1.1] },
      },
      series: [{ label: "Time", value: (u, v) => (v === null ? DASH : fmt.clock(v)) }].concat(series),
      axes: [
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } },
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, values: valueFormat, size: 70 },
      ],
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
    };
  }

  /** The indices of values with no value on either side. */
  function isolated(u, seriesIdx) {
    const values = u.data[seriesIdx];
    const found = [];
    values.forEach((v, i) => {
      const alone = (i === 0 || values[i - 1] === null) && (i === values.length - 1 || values[i + 1] === null);
      if (v !== null && alone) found.push(i);
    });
    return found;
  }

  function line(label, colourVar, fallback, dash, unit) {
    return {
      label: label,
      stroke: cssColour(colourVar, fallback),
      width: 2,
      dash: dash,
      spanGaps: false,
      // A step with data between two without would draw no line at all: show it as a dot.
      points: { show: true, size: 5, fill: cssColour(colourVar, fallback), filter: isolated },
      value: (u, v) => (v === null || v === undefined ? DASH : fmt.num(v, v < 10 ? 2 : 1) + unit),
    };
  }

  const CHARTS = {
    requests: {
      unit: "/s",
      series: () => [
        line("Requests/s", "--mon-series-1", "#2166ac", undefined, "/s"),
        line("5xx/s", "--mon-series-2", "#b2182b", [6, 4], "/s"),
      ],
      data: (c) => [c.x, c.rps, c.eps],
    },
    errors: {
      unit: "%",
      series: () => [line("Error rate", "--mon-series-2", "#b2182b", undefined, "%")],
      data: (c) => [c.x, c.rate],
    },
    latency: {
      unit: " ms",
      series: () => [
        line("p50", "--mon-series-1", "#2166ac", undefined, " ms"),
        line("p95", "--mon-series-3", "#6a3d9a", [6, 4], " ms"),
        line("p99", "--mon-series-2", "#b2182b", [2, 3], " ms"),
      ],
      data: (c) => [c.x, c.p50, c.p95, c.p99],
    },
  };

  function renderCharts(doc) {
    const columns = seriesOf(doc);
    if (typeof window.uPlot !== "function") {
      console.warn("monitoring dashboard: uPlot did not load; charts are not drawn");
    } else {
      for (const [name, spec] of Object.entries(CHARTS)) drawChart(name, spec, columns);
    }
    describeCharts(columns);
    renderSeriesTable(columns);
  }

  function drawChart(name, spec, columns) {
    const container = document.getElementById("mon-chart-" + name);
    const data = spec.data(columns);
    const existing = instances[name];
    // The x range and the colours are set when a chart is made: a new window or theme
    // makes a new chart; a refresh of the same window only gives new data.
    if (existing && existing._window === view.window && existing._theme === theme()) {
      existing.setData(data);
      return;
    }
    if (existing) existing.destroy();
    const options = chartOptions(container.clientWidth || 300, spec.series(), spec.unit);
    const chart = new window.uPlot(options, data, container);
    chart._window = view.window;
    chart._theme = theme();
    instances[name] = chart;
    container.dataset.window = view.window;
  }

  function theme() {
    const explicit = document.documentElement.dataset.theme;
    if (explicit && explicit !== "auto") return explicit;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function peak(values) {
    let best = null;
    values.forEach((v, i) => {
      if (v !== null && (best === null || v > values[best])) best = i;
    });
    return best;
  }

  function describeCharts(c) {
    const over = "over the last " + view.label;
    const total = c.points.reduce((sum, p) => sum + p.requests, 0);
    const steps = c.x.length;
    const top = peak(c.rps);
    setText("#mon-chart-requests-summary", total
      ? fmt.int(total) + " requests " + over + ", peak " + fmt.perSecond(c.rps[top]) + "/s at " + fmt.clock(c.x[top]) +
        "; 5xx peak " + fmt.perSecond(Math.max(...c.eps)) + "/s."
      : "No requests " + over + ".");
    const worst = peak(c.rate);
    setText("#mon-chart-errors-summary", worst === null
      ? "No requests " + over + "."
      : "Highest error rate " + fmt.num(c.rate[worst], 1) + "% at " + fmt.clock(c.x[worst]) + " (" + steps + " steps).");
    const slowest = peak(c.p99);
    setText("#mon-chart-latency-summary", slowest === null
      ? "No requests " + over + "."
      : "Highest p99 " + fmt.ms(c.p99[slowest]) + " ms at " + fmt.clock(c.x[slowest]) +
        "; latest p95 " + fmt.ms(lastValue(c.p95)) + " ms.");
  }

  function lastValue(values) {
    for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
    return null;
  }

  function renderSeriesTable(c) {
    const step = lastDocument.series.step_seconds;
    const rows = c.points.filter((p) => p.requests).map((p) => el("tr", {},
      cell(fmt.clock(p.start)),
      numCell(fmt.int(p.requests)),
      numCell(fmt.perSecond(p.requests / step)),
      numCell(fmt.int(p.errors_5xx)),
      numCell(fmt.pct(p.requests ? p.errors_5xx / p.requests : null)),
      numCell(fmt.ms(p.p50_ms)),
      numCell(fmt.ms(p.p95_ms)),
      numCell(fmt.ms(p.p99_ms))
    ));
    fillTable("#mon-series", rows, "No requests in this window.");
  }

  /** Draw (or update) the charts of a dashboard/ document for ``current`` {window, label}. */
  function render(doc, current) {
    view = current || view;
    lastDocument = doc;
    renderCharts(doc);
  }

  function redraw() {
    if (lastDocument) renderCharts(lastDocument);
  }

  function resize() {
    for (const [name, chart] of Object.entries(instances)) {
      const width = document.getElementById("mon-chart-" + name).clientWidth;
      if (width && width !== chart.width) chart.setSize({ width, height: chart.height });
    }
  }

  ui.charts = { instances, render, redraw, resize };
})();
