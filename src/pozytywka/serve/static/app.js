// The demo page: plain JavaScript over the service's own API (no library, no CDN).
"use strict";

const $ = (sel) => document.querySelector(sel);
let served = null; // the GET /v1/playlists answer that served the listener (its request_id ties events to it)

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

function status(text, isError = false) {
  const s = $("#status");
  s.textContent = text;
  s.className = isError ? "error" : "";
}

async function answer(resp) {
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const d = body.detail;
    throw new Error(Array.isArray(d) ? d.join("; ") : d || resp.statusText);
  }
  return body;
}

// Act as the listener of the page: GET /v1/playlists serves them (their exposure, on
// their first request of the week), once, on the first mark; its request_id ties events.
// Two quick clicks share the one request (a failed one is asked again on the next mark).
let serving = null;

async function fetchServed() {
  const who = $("#listener").dataset;
  const got = await answer(await fetch("/v1/playlists?user_id=" + encodeURIComponent(who.user)));
  if (got.arm !== who.arm || got.week_start !== who.week) {
    throw new Error("the service now serves another week or arm: reload the page");
  }
  return got;
}

async function serveListener() {
  if (!serving) serving = fetchServed().catch((err) => { serving = null; throw err; });
  served = await serving;
  return served;
}

// The event's time: now, but never before the request that served the track (the
// service's clock, naive UTC with microseconds: +1 ms covers the truncation). On the
// service's manual clock (a simulated past week) "now" is that request's time itself.
function eventTime() {
  const iso = served.served_at;
  const servedAt = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : iso + "Z") + 1;
  const t = document.body.dataset.clock === "manual" ? servedAt : Math.max(Date.now(), servedAt);
  return new Date(t).toISOString();
}

async function mark(button, trackId, kind) {
  try {
    const first = serving === null;
    await serveListener();
    const event = { request_id: served.request_id, track_id: trackId, event_type: kind,
                    timestamp: eventTime() };
    await answer(await fetch("/v1/events", { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ events: [event] }) }));
    button.classList.add("done");
    button.setAttribute("aria-pressed", "true");
    const servedNote = !first ? "" : "Served as listener " + served.user_id +
      (served.first_exposure ? " (their exposure of the week). " : " (already exposed this week). ");
    status(servedNote + "Logged: " + kind + " of " + trackId + ".");
  } catch (err) {
    status("Not logged: " + err.message, true);
  }
}

const fmt = (x, digits = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));

// The lift of B over A with its 95% interval, on an axis that always shows zero.
function drawInterval(r) {
  const W = 560, H = 120, pad = 40;
  const svgNS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("width", "100%");
  svg.setAttribute("role", "img");
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  const span = Math.max(Math.abs(r.ci_low), Math.abs(r.ci_high), Math.abs(r.lift), 0.01) * 1.2;
  const x = (v) => pad + ((v + span) / (2 * span)) * (W - 2 * pad);
  const y = H / 2;
  add("line", { x1: pad, y1: y + 30, x2: W - pad, y2: y + 30, class: "axis" });
  for (const t of [-span, -span / 2, 0, span / 2, span]) {
    add("line", { x1: x(t), y1: y + 26, x2: x(t), y2: y + 34, class: "axis" });
    add("text", { x: x(t), y: y + 48, "text-anchor": "middle", class: "tick" }, (100 * t).toFixed(1) + "%");
  }
  add("line", { x1: x(0), y1: 10, x2: x(0), y2: y + 30, class: "zero" });
  add("line", { x1: x(r.ci_low), y1: y, x2: x(r.ci_high), y2: y, class: "interval" });
  for (const v of [r.ci_low, r.ci_high]) add("line", { x1: x(v), y1: y - 8, x2: x(v), y2: y + 8, class: "interval" });
  add("circle", { cx: x(r.lift), cy: y, r: 6, class: "lift" });
  add("text", { x: x(r.lift), y: y - 14, "text-anchor": "middle" },
    `lift ${(100 * r.lift).toFixed(1)}% [${(100 * r.ci_low).toFixed(1)}%, ${(100 * r.ci_high).toFixed(1)}%]`);
  svg.setAttribute("aria-label", `lift ${r.lift} with 95% interval ${r.ci_low} to ${r.ci_high}`);
  return svg;
}

async function refreshReadout() {
  const chart = $("#chart");
  chart.dataset.state = "loading";
  try {
    const r = await answer(await fetch(`/v1/experiments/${chart.dataset.experiment}/results`));
    const caption = el("p", { class: "caption" },
      `${r.metric}: lift of B over A, 95% interval; p = ${fmt(r.p_value)}, ` +
      `SRM p = ${fmt(r.srm_p_value)}${r.decision ? ", " + r.decision : ""}; ` +
      `${r.listeners_exposed} listeners exposed, ${r.events} events (week of ${r.week_start}).`);
    const noInterval = r.lift === null || r.ci_low === null || r.ci_high === null;
    const drawn = noInterval
      ? el("p", { class: "no-interval" }, "No interval yet: " + (r.reason || r.lift_note || "too few events") + ".")
      : drawInterval(r);
    chart.replaceChildren(drawn, caption);
    const rows = Object.entries(r.arms).map(([arm, a]) => el("tr", {}, el("td", {}, arm),
      el("td", {}, String(a.users)), el("td", {}, fmt(a.play_through_rate)),
      el("td", {}, fmt(a.likes_per_user)), el("td", {}, fmt(a.skips_per_user))));
    $("#arms-table tbody").replaceChildren(...rows);
    $("#arms-table").hidden = false;
  } catch (err) {
    chart.replaceChildren(el("p", { class: "error" }, "Read-out failed: " + err.message));
  }
  chart.dataset.state = "ready";
}

for (const b of document.querySelectorAll("#playlists button.mark")) {
  b.addEventListener("click", () => mark(b, b.dataset.track, b.dataset.event));
}
$("#refresh").addEventListener("click", refreshReadout);
refreshReadout();
