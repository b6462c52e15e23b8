// admin.js — the usage dashboard (www/admin/index.html): asks
// GET ../api/admin/usage (relative, so the site may be mounted anywhere)
// with the admin key from the form, kept in sessionStorage only, and draws
// the answer as SVG charts built with createElementNS (no innerHTML, no
// inline style: the strict CSP holds).  When it is done,
// <html data-dash="ready|error"> says so (the browser test waits on it).

const API_URL = "../api/admin/usage";
const KEY_SLOT = "chatstream.adminKey";
const SVG_NS = "http://www.w3.org/2000/svg";
const CHART_H = 200;
const PAD = { top: 12, right: 12, bottom: 26, left: 52 };

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, text = null) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== null) e.textContent = text;
  return e;
}

function svgEl(tag, attrs = {}, text = null) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== null) e.textContent = text;
  return e;
}

function fmt(n) {
  if (n === null || n === undefined) return "–";
  if (Math.abs(n) >= 1e9) return (n / 1e9).toFixed(1) + "G";
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(0) + "k";
  return String(Math.round(n * 100) / 100);
}

function pct(part, whole) {
  return whole > 0 ? (100 * part) / whole : 0;
}

// A nice upper bound for an axis.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function setStatus(kind, text) {
  const s = $("status");
  s.dataset.kind = kind;
  s.textContent = text;
}

// The frame of a chart: an <svg> sized to its figure, y grid and labels,
// x labels every few days.  Returns {svg, x(i), y(v), bw} for the series.
function frame(fig, name, days, max, unit) {
  fig.replaceChildren();
  const w = Math.max(300, Math.floor(fig.clientWidth || 600));
  const svg = svgEl("svg", {
    class: "chart-svg", "data-chart": name, width: w, height: CHART_H,
    viewBox: `0 0 ${w} ${CHART_H}`, role: "img",
  });
  const iw = w - PAD.left - PAD.right, ih = CHART_H - PAD.top - PAD.bottom;
  const n = days.length;
  const bw = iw / n;
  const x = (i) => PAD.left + i * bw;
  const y = (v) => PAD.top + ih - (max > 0 ? (v / max) * ih : 0);
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    svg.append(svgEl("line", { class: "grid", x1: PAD.left, x2: w - PAD.right, y1: y(v), y2: y(v) }));
    svg.append(svgEl("text", { class: "axis", x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" },
      fmt(v) + unit));
  }
  const every = w < 500 ? 7 : 5;
  for (let i = n - 1; i >= 0; i -= every) {
    svg.append(svgEl("text", { class: "axis", x: x(i) + bw / 2, y: CHART_H - 8, "text-anchor": "middle" },
      days[i].slice(5)));
  }
  fig.append(svg);
  return { svg, x, y, bw };
}

function legend(fig, names) {
  const ul = el("ul", { class: "legend" });
  names.forEach((name, i) => {
    const li = el("li");
    li.append(el("span", { class: `swatch s${i}`, "aria-hidden": "true" }), el("span", {}, name));
    ul.append(li);
  });
  fig.append(ul);
}

// Stacked bars: series [{name, values[]}], one rect per day and series
// with data-series, data-day and data-value.
function bars(fig, name, days, series, label) {
  const totals = days.map((_, i) => series.reduce((a, s) => a + s.values[i], 0));
  const c = frame(fig, name, days, niceMax(Math.max(...totals)), "");
  c.svg.setAttribute("aria-label", label);
  days.forEach((day, i) => {
    let base = 0;
    series.forEach((s, k) => {
      const v = s.values[i];
      const r = svgEl("rect", {
        class: `bar s${k}`, x: c.x(i) + c.bw * 0.12, width: Math.max(1, c.bw * 0.76),
        y: c.y(base + v), height: Math.max(0, c.y(base) - c.y(base + v)),
        "data-series": s.name, "data-day": day, "data-value": v,
      });
      r.append(svgEl("title", {}, `${day} ${s.name}: ${v}`));
      c.svg.append(r);
      base += v;
    });
  });
  legend(fig, series.map((s) => s.name));
}

// Lines: series [{name, values[] (null: no point)}], a circle per point
// with data-series, data-day and data-value.
function lines(fig, name, days, series, unit, label, fixedMax = null) {
  const all = series.flatMap((s) => s.values.filter((v) => v !== null));
  const c = frame(fig, name, days, fixedMax ?? niceMax(Math.max(0, ...all)), unit);
  c.svg.setAttribute("aria-label", label);
  series.forEach((s, k) => {
    let d = "";
    const dots = [];
    s.values.forEach((v, i) => {
      if (v === null) return;
      const px = c.x(i) + c.bw / 2, py = c.y(v);
      d += (d && s.values[i - 1] !== null ? "L" : "M") + px.toFixed(1) + " " + py.toFixed(1);
      const dot = svgEl("circle", {
        class: `dot s${k}`, cx: px, cy: py, r: 3,
        "data-series": s.name, "data-day": days[i], "data-value": v,
      });
      dot.append(svgEl("title", {}, `${days[i]} ${s.name}: ${fmt(v)}${unit}`));
      dots.push(dot);
    });
    if (d) c.svg.append(svgEl("path", { class: `line s${k}`, d }));
    c.svg.append(...dots);
  });
  legend(fig, series.map((s) => s.name));
}

function entryName(e, dim) {
  if (e.other) return "(other)";
  if (e.name === "") return dim === "keys" ? "(no key)" : "(none)";
  return e.name;
}

function table(t, dim, entries) {
  t.replaceChildren();
  const head = el("tr");
  for (const h of ["Name", "Requests", "Prompt tokens", "Completion tokens"]) head.append(el("th", { scope: "col" }, h));
  t.append(el("thead"));
  t.tHead.append(head);
  const body = el("tbody");
  for (const e of entries) {
    const tr = el("tr", { "data-name": entryName(e, dim), "data-requests": e.requests });
    tr.append(el("th", { scope: "row" }, entryName(e, dim)),
      el("td", {}, String(e.requests)), el("td", {}, String(e.prompt_tokens)),
      el("td", {}, String(e.completion_tokens)));
    body.append(tr);
  }
  if (!entries.length) {
    const tr = el("tr");
    tr.append(el("td", { colspan: "4" }, "No requests."));
    body.append(tr);
  }
  t.append(body);
}

function totals(j) {
  const sum = (a) => a.reduce((x, y) => x + y, 0);
  const d = j.daily;
  const req = sum(d.requests), errs = sum(d.errors), refused = sum(d.refused);
  const items = [
    ["requests", "Requests", req],
    ["prompt_tokens", "Prompt tokens", sum(d.prompt_tokens)],
    ["completion_tokens", "Completion tokens", sum(d.completion_tokens)],
    ["errors", "Errors", errs],
    ["refused", "Refused", refused],
  ];
  const dl = $("totals");
  dl.replaceChildren();
  for (const [k, label, v] of items) {
    const div = el("div", { "data-total": k, "data-value": v });
    div.append(el("dt", {}, label), el("dd", {}, String(v)));
    dl.append(div);
  }
}

function render(j) {
  const days = j.days, d = j.daily;
  totals(j);
  bars($("chart-requests"), "requests", days, [{ name: "requests", values: d.requests }],
    "Requests per day");
  bars($("chart-tokens"), "tokens", days, [
    { name: "prompt", values: d.prompt_tokens },
    { name: "completion", values: d.completion_tokens },
  ], "Prompt and completion tokens per day");
  const asked = days.map((_, i) => d.requests[i] + d.refused[i]);
  lines($("chart-rates"), "rates", days, [
    { name: "errors", values: days.map((_, i) => (d.requests[i] ? pct(d.errors[i], d.requests[i]) : null)) },
    { name: "refused", values: days.map((_, i) => (asked[i] ? pct(d.refused[i], asked[i]) : null)) },
  ], "%", "Error rate (of requests answered) and refusal rate (of requests asked) per day", 100);
  lines($("chart-ttfd"), "ttfd", days, [
    { name: "p50", values: d.ttfd_p50_ms },
    { name: "p99", values: d.ttfd_p99_ms },
  ], " ms", "Time to first delta per day, p50 and p99");
  for (const dim of ["models", "keys"]) {
    const entries = j[dim];
    bars($("chart-" + dim), dim, days,
      entries.map((e) => ({ name: entryName(e, dim), values: e.daily.requests })),
      `Requests per day by ${dim === "models" ? "model" : "key"}`);
    table($("table-" + dim), dim, entries);
  }
  table($("table-identities"), "identities", j.identities);
}

async function load() {
  const key = sessionStorage.getItem(KEY_SLOT);
  if (!key) return;
  $("forget").hidden = false;
  setStatus("loading", "Loading…");
  document.documentElement.dataset.dash = "loading";
  let res;
  try {
    res = await fetch(API_URL, { cache: "no-store", headers: { Authorization: "Bearer " + key } });
  } catch (e) {
    return fail("network", "The request failed before any answer came back: is /api/ passed to chatstream?");
  }
  if (res.status === 401) return fail("401", "The key was not accepted (401): check it, or add it as a [key] in the config.");
  if (res.status === 403) return fail("403", "This key may not see the dashboard (403): its permissions do not include admin.");
  if (res.status === 404) return fail("404", "The dashboard is off (404): admin = off in the config. Set admin = key.");
  if (!res.ok) return fail(String(res.status), `The server answered HTTP ${res.status}.`);
  let j;
  try {
    j = await res.json();
  } catch (e) {
    return fail("json", "The answer was not JSON.");
  }
  $("report").hidden = false;
  render(j);
  window.__usage = j;
  setStatus("ready", "Updated " + new Date(j.generated_ms).toISOString().replace("T", " ").slice(0, 16) + " UTC.");
  document.documentElement.dataset.dash = "ready";
}

function fail(kind, text) {
  $("report").hidden = true;
  setStatus("error-" + kind, text);
  document.documentElement.dataset.dash = "error";
}

function init() {
  $("key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = $("key").value.trim();
    if (!v) return;
    sessionStorage.setItem(KEY_SLOT, v);
    $("key").value = "";
    load();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_SLOT);
    $("forget").hidden = true;
    $("report").hidden = true;
    setStatus("idle", "The key is forgotten.");
  });
  let last = window.innerWidth;
  window.addEventListener("resize", () => {
    if (window.__usage && Math.abs(window.innerWidth - last) > 20) {
      last = window.innerWidth;
      render(window.__usage);
    }
  });
  document.documentElement.dataset.dash = "idle";
  load();
}

init();
