// The dashboard's shared code: the API (JSON behind every chart), the time range, charts (uPlot).
"use strict";

const palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const ranges = { "6h": 6, "24h": 24, "7d": 168, "30d": 720 };

function param(name) { return new URLSearchParams(location.search).get(name); }
function esc(s) { return String(s ?? "").replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }
function ago(iso) {
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  return s < 90 ? `${Math.round(s)} s ago` : s < 5400 ? `${Math.round(s / 60)} min ago` : s < 172800 ? `${Math.round(s / 3600)} h ago` : `${Math.round(s / 86400)} days ago`;
}

// Reads need no token from this machine; from elsewhere the page asks for a catalog token once.
async function api(path) {
  const headers = {};
  const token = localStorage.getItem("catalogToken");
  if (token) headers.Authorization = "Bearer " + token;
  const r = await fetch("api/v1/" + path, { headers });
  if (r.status === 401) { document.getElementById("token").style.display = "block"; throw new Error("a catalog token is needed"); }
  if (!r.ok) { const p = await r.json().catch(() => ({})); throw new Error(p.detail || r.statusText); }
  return r.json();
}
function saveToken() { localStorage.setItem("catalogToken", document.getElementById("tokenValue").value.trim()); location.reload(); }

// The time range: from the page's address (?range=24h), chosen with the header's buttons; a drag on a chart zooms in.
// The first view shows the last 6 hours (what a shift looks at); 24h, 7d and 30d are a click away.
function range() { return ranges[param("range")] ? param("range") : "6h"; }
function rangeButtons() {
  const el = document.querySelector(".range");
  el.innerHTML = Object.keys(ranges).map(r => `<button class="${r === range() ? "on" : ""}" data-r="${r}">${r}</button>`).join(" ");
  el.querySelectorAll("button").forEach(b => b.onclick = () => { const u = new URL(location); u.searchParams.set("range", b.dataset.r); location = u; });
}
function fromTo() { const to = new Date(); return { from: new Date(to - ranges[range()] * 3600e3).toISOString(), to: to.toISOString() }; }

// Counters (what happened per minute) read a minute without a point as zero; gauges leave it a gap.
const counters = new Set(["registered", "transfers", "transfer_bytes", "transfer_failures", "api_requests"]);
async function series(name, by, labels = {}, scale = 1) {
  const { from, to } = fromTo();
  const q = new URLSearchParams({ from, to });
  if (by) q.set("by", by);
  for (const [k, v] of Object.entries(labels)) q.append("label", `${k}:${v}`);
  const s = await api(`series/${name}?${q}`);
  const now = Date.now() / 1000;
  if (counters.has(name)) s.lines.forEach(l => l.values = l.values.map((v, i) => v == null && s.times[i] + s.step <= now ? 0 : v));
  if (scale !== 1) s.lines.forEach(l => l.values = l.values.map(v => v == null ? null : v * scale));
  return s;
}

// One time-series chart: a line per label; an empty range says so instead of drawing nothing.
const charts = [];
function chart(el, title, data, unit) {
  el.classList.add("chart");
  el.innerHTML = `<h3>${esc(title)}</h3>`;
  if (!data.lines.length) { el.insertAdjacentHTML("beforeend", `<div class="empty">no data in this range</div>`); el.dataset.points = "0"; return; }
  const width = Math.max(300, el.clientWidth - 10);
  const opts = {
    width, height: 220,
    series: [{}, ...data.lines.map((l, i) => ({ label: l.label, stroke: palette[i % palette.length], width: 1.5, spanGaps: true,
      points: { show: l.values.filter(v => v != null).length < 60, size: 4 },
      value: (u, v) => v == null ? "-" : fmt(v) + (unit ? " " + unit : "") }))],
    axes: [{}, { values: (u, vals) => ticks(vals), size: (u, values) => values ? Math.max(40, ...values.map(v => String(v).length * 7 + 18)) : 50 }],
    legend: { live: true },
  };
  const plot = new uPlot(opts, [data.times, ...data.lines.map(l => l.values)], el);
  el.dataset.points = String(data.lines.reduce((n, l) => n + l.values.filter(v => v != null).length, 0));
  charts.push(plot);
}
// Axis and legend numbers: compact (2.31M, 15.2k), with enough digits that neighbouring ticks differ.
const compact = new Intl.NumberFormat("en", { notation: "compact", maximumSignificantDigits: 4 });
function ticks(vals) {
  for (let digits = 4; digits <= 10; digits++) {
    const f = new Intl.NumberFormat("en", { notation: "compact", maximumSignificantDigits: digits });
    const labels = vals.map(v => v == null ? "" : Math.abs(v) >= 1000 ? f.format(v) : fmt(v));
    if (new Set(labels).size === labels.length) return labels;
  }
  return vals.map(fmt);
}
function fmt(v) { return Math.abs(v) >= 1000 ? compact.format(v) : Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) < 1 ? 3 : 1); }

function statusTile(t) {
  const status = t.status.toLowerCase();
  const probe = t.lastProbe ? (t.lastProbe.ok ? `probe ok, ${Math.round(t.lastProbe.milliseconds)} ms` : esc(t.lastProbe.error)) : "not probed yet";
  return `<a class="tile status-${status}" href="target.html?name=${encodeURIComponent(t.name)}&range=${range()}" data-target="${esc(t.name)}" data-status="${status}">
    <div class="name">${esc(tileName(t))}</div><div class="detail">${esc(t.status)} · ${probe}</div></a>`;
}

function tileName(t) {
  return t.kind === "catalog" ? "catalog (register, look up, remove)" : t.kind === "service" ? `${t.name.slice(8)} service (ready?)`
    : t.kind === "site" ? `site ${t.name.slice(5)} (test job)` : t.name.replace(/^se:/, "");
}

function failureRows(failures) {
  if (!failures.length) return `<p class="muted">No failures in this range.</p>`;
  return `<table><tr><th>When</th><th>What</th><th>Where</th><th>Reason</th><th class="num">Count</th></tr>` + failures.map(f => {
    const where = f.source === "job" ? `<a href="production.html?name=${encodeURIComponent(f.production)}&range=${range()}">${esc(f.production)}</a> at ${esc(f.site)}`
      : f.source === "transfer" ? `<a href="link.html?link=${encodeURIComponent(f.site)}&range=${range()}">${esc(f.site)}</a>` : esc(f.site || "");
    return `<tr><td>${ago(f.lastSeen)}</td><td>${esc(f.source)}</td><td>${where}</td><td title="${esc(f.example)}">${esc(f.reason)}</td><td class="num">${f.count}</td></tr>`;
  }).join("") + `</table>`;
}

function hoursOfRange() { return ranges[range()]; }

// Every page's header (title, time range) and the token form a page opened from elsewhere needs.
function header() {
  document.body.insertAdjacentHTML("afterbegin", `<header><h1><a href="./" style="color:#fff;text-decoration:none">Belle II catalog · monitoring</a></h1>
    <span class="spacer"></span><span class="range"></span></header>
    <section id="token"><form onsubmit="saveToken();return false">This page is read from another machine: paste a catalog token
    (<code>catalog token issue</code>) <input id="tokenValue" size="60"> <button>Use it</button></form></section>`);
}

function page(render) {
  header();
  rangeButtons();
  const started = performance.now();
  render().then(() => {
    // For the benchmark and the tests: when the first view was complete, in ms since navigation started.
    document.body.dataset.renderedAt = String(Math.round(performance.now()));
    document.body.dataset.rendered = String(Math.round(performance.now() - started));
  }).catch(e => {
    document.querySelector("main").insertAdjacentHTML("afterbegin", `<section><ul class="alerts"><li class="red">The dashboard could not load: ${esc(e.message)}</li></ul></section>`);
    document.body.dataset.rendered = "error";
  });
}
