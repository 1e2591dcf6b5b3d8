// datamake ui: the pages. Plain JavaScript, no build step; the layout is dagre's (vendor/).
// Every fact comes from the JSON API under /api (the CLI's --json shapes).
"use strict";

const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const FULL_LIMIT = 120;      // more assets than this: groups start collapsed
const DAGRE_NODES = 120;     // a larger view (in boxes, or edges below) gets a linear-time layered layout:
const DAGRE_EDGES = 250;     // dagre's crossing minimization grows too fast for a quick first paint
const CULL_LIMIT = 1500;     // more boxes than this: only those on screen are drawn
const STATES = ["running", "failed", "blocked", "never", "stale", "fresh"];

// ---------------------------------------------------------------- helpers
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}
const svgNS = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, v);
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}
async function getJSON(url) {
  const r = await fetch(url, {headers: {accept: "application/json"}});
  const data = await r.json().catch(() => ({error: r.statusText}));
  if (!r.ok) { const e = new Error(data.error || r.statusText); e.status = r.status; e.data = data; throw e; }
  return data;
}
async function post(url, body) {
  const r = await fetch(url, {method: "POST", body: JSON.stringify(body || {}),
    headers: {"content-type": "application/json", "x-csrf-token": CSRF}});
  const data = await r.json().catch(() => ({error: r.statusText}));
  if (!r.ok) { const e = new Error(data.error || r.statusText); e.data = data; throw e; }
  return data;
}
const assetHref = (key) => "/assets/" + key.split("/").map(encodeURIComponent).join("/");
const runHref = (id) => "/runs/" + encodeURIComponent(id);
function when(ts) { return ts ? new Date(ts * 1000).toLocaleString() : ""; }
function secs(x) { return x === null || x === undefined ? "" : x < 10 ? x.toFixed(2) + " s" : x.toFixed(1) + " s"; }
function bytes(n) {
  if (n === null || n === undefined) return "";
  const u = ["B", "KiB", "MiB", "GiB"]; let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}
const short = (v) => v ? String(v).slice(0, 12) : "—";
function badge(state) { return h("span", {class: "badge " + state, text: state}); }
function errorBox(e) {
  return h("div", {class: "error"}, h("pre", {text: e.message}), e.data && e.data.hint ? h("p", {class: "hint", text: "hint: " + e.data.hint}) : null);
}
function section(title, ...body) { return h("section", {class: "card"}, h("h2", {text: title}), ...body); }
function table(head, rows) {
  return h("table", {}, h("thead", {}, h("tr", {}, head.map((x) => h("th", {text: x})))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))));
}

// ---------------------------------------------------------------- live updates
const live = {last: null, generation: null, running: new Map(), listeners: []};
function startLive() {
  const dot = document.getElementById("live");
  const es = new EventSource("/api/stream");
  es.onopen = () => dot.classList.add("on");
  es.onerror = () => dot.classList.remove("on");
  es.onmessage = (m) => {
    const data = JSON.parse(m.data);
    showLoadError(data.error);
    const a = data.activity;
    live.running = new Map();
    if (a) for (const run of a.running) for (const node of run.assets) live.running.set(node, run.run_id);
    const token = JSON.stringify([a && a.last_event, a && a.running.map((r) => [r.run_id, r.assets]), data.generation, !!data.error]);
    if (live.last !== null && token !== live.last) refreshSoon();
    live.last = token;
  };
}
let refreshTimer = null, lastRefresh = 0;
function refreshSoon() {
  if (refreshTimer) return;
  const wait = Math.max(0, 1000 - (Date.now() - lastRefresh));
  refreshTimer = setTimeout(() => { refreshTimer = null; lastRefresh = Date.now(); if (current.refresh) current.refresh(); }, wait);
}
function showLoadError(err) {
  const box = document.getElementById("load-error");
  box.hidden = !err;
  if (err) {
    document.getElementById("load-error-text").textContent = err.error;
    document.getElementById("load-error-hint").textContent = err.hint ? "hint: " + err.hint : "";
  }
}

// ---------------------------------------------------------------- launching
let launchPoll = null;
async function launch(body) {
  const panel = document.getElementById("launch-panel");
  panel.hidden = false;
  document.getElementById("launch-output").textContent = "";
  document.getElementById("launch-run").hidden = true;
  try {
    const l = await post("/api/launch", body);
    watchLaunch(l.id);
  } catch (e) {
    setLaunchState("error", e.message);
  }
}
function setLaunchState(state, output, command) {
  const el = document.getElementById("launch-state");
  el.className = "badge " + state; el.textContent = state;
  if (output !== undefined) document.getElementById("launch-output").textContent = output;
  if (command) document.getElementById("launch-title").textContent = command;
}
function watchLaunch(id) {
  clearTimeout(launchPoll);
  const cancel = document.getElementById("launch-cancel");
  cancel.onclick = () => post(`/api/launches/${id}/cancel`).catch(() => {});
  const tick = async () => {
    const l = await getJSON(`/api/launches/${id}`).catch(() => null);
    if (!l) return;
    const lastLine = l.output.trim().split("\n").pop() || "";
    const waiting = l.running && /waiting for (.*\(pid \d+[^)]*\))/.exec(lastLine);
    const state = l.running ? (l.cancelled ? "cancelling" : waiting ? "waiting for lock" : "running")
      : l.returncode === 0 ? "done" : l.returncode === 130 || l.cancelled ? "cancelled" : "failed";
    setLaunchState(state, (waiting ? `waiting for lock (${waiting[1].replace(/^.*\((pid[^)]*)\)$/, "$1")})\n` : "") + l.output, l.command);
    cancel.hidden = !l.running;
    const link = document.getElementById("launch-run");
    if (l.run_id) { link.href = runHref(l.run_id); link.hidden = false; }
    if (l.running) launchPoll = setTimeout(tick, 400); else refreshSoon();
  };
  tick();
}
function makeControls(selectionFn, extra) {
  const force = h("input", {type: "checkbox", id: "force"});
  const btn = h("button", {type: "submit", id: "make-button", class: "primary", text: "Make"});
  const form = h("form", {class: "make-form", onsubmit: (ev) => {
    ev.preventDefault();
    const sel = selectionFn();
    launch({selection: sel.selection, partition: sel.partition || null, force: force.checked});
  }}, extra || null, h("label", {title: "rebuild even if fresh (datamake make -B)"}, force, " -B"), btn);
  return form;
}

// ---------------------------------------------------------------- the asset graph
function buildNodes(ls) {
  const byKey = new Map();
  for (const a of ls.assets) byKey.set(a.key, {...a, decisions: [], state: a.kind === "source" ? "source" : "unknown"});
  return byKey;
}
async function lastOutcomes() {
  // failed / blocked in the latest run, for assets still stale: what the planner alone does not say
  const last = new Map();
  const latest = (await getJSON("/api/log?limit=1")).runs[0];
  if (latest && (latest.counts.failed || latest.counts.blocked)) {
    const run = await getJSON("/api/runs/" + encodeURIComponent(latest.run_id));
    for (const e of run.events) if (e.asset && (e.kind === "failed" || e.kind === "blocked")) last.set(e.asset, e.kind);
  }
  return last;
}
function applyStatus(nodes, status, last) {
  for (const n of nodes.values()) n.decisions = [];
  for (const d of status.assets) { const n = nodes.get(d.key); if (n) n.decisions.push(d); }
  for (const n of nodes.values()) n.state = nodeState(n, last.get(n.key));
}
const marks = {};
function mark(name) {  // the time (ms since navigation) when the frame showing it has been painted
  if (!(name in marks)) { marks[name] = null; requestAnimationFrame(() => setTimeout(() => { marks[name] = performance.now(); })); }
}
window.datamakeMarks = marks;
function nodeState(n, lastOutcome) {
  if (n.kind === "source") return "source";
  for (const d of n.decisions) if (live.running.has(d.partition ? `${d.key}[${d.partition}]` : d.key)) return "running";
  const stale = n.decisions.filter((d) => d.state === "stale");
  if (!stale.length) return "fresh";
  if (lastOutcome) return lastOutcome;
  if (stale.length === n.decisions.length && stale.every((d) => d.reasons.some((r) => r.code === "never_materialized"))) return "never";
  return "stale";
}
function reasonCodes(n) {
  const codes = new Set();
  for (const d of n.decisions) for (const r of d.reasons) codes.add(r.code);
  return [...codes];
}

function graphView(view) {
  const state = {nodes: null, expanded: new Set(), transform: {x: 20, y: 20, k: 1}, search: ""};
  const sel = h("input", {id: "selection", placeholder: "selection: report  group:sales  …", "aria-label": "selection"});
  const part = h("input", {id: "partition", placeholder: "partitions (optional)", class: "narrow"});
  const toolbar = h("div", {class: "toolbar"},
    makeControls(() => ({selection: sel.value.trim() ? [sel.value.trim()] : [], partition: part.value.trim()}), [sel, part]),
    h("span", {id: "legend", class: "legend"}),
    h("button", {type: "button", onclick: () => { state.expanded.clear(); draw(); }, text: "collapse groups"}),
    h("button", {type: "button", onclick: () => fit(), text: "fit"}));
  const svg = s("svg", {id: "graph", class: "graph"},
    s("defs", {}, s("marker", {id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto"},
      s("path", {d: "M0,0L10,5L0,10z", class: "arrowhead"}))));
  const canvas = s("g", {});
  svg.append(canvas);
  view.replaceChildren(toolbar, h("div", {class: "graph-wrap"}, svg));
  let laid = null;

  async function refresh() {
    // The structure (ls) paints first; the states (status, a full plan) colour it when they arrive.
    let ls;
    try { ls = await getJSON("/api/ls"); } catch (e) { if (e.status !== 503) view.replaceChildren(errorBox(e)); return; }
    marks.ls = marks.ls || performance.now();
    const statusP = getJSON("/api/status"), lastP = lastOutcomes();  // asked after ls: the server plans one at a time
    statusP.catch(() => {}); lastP.catch(() => {});
    const shape = ls.assets.map((a) => a.key + "<" + a.deps.join(",") + ">" + a.group).join(";");
    if (shape !== state.shape) {
      const old = state.nodes;
      state.shape = shape;
      state.nodes = buildNodes(ls);
      if (old) for (const n of state.nodes.values()) if (old.has(n.key)) n.state = old.get(n.key).state;
      if (state.nodes.size <= FULL_LIMIT) for (const n of state.nodes.values()) state.expanded.add(n.group);
      marks.built = marks.built || performance.now();
      draw(laid === null);
      marks.drawn = marks.drawn || performance.now();
      mark("structure");
    }
    try { applyStatus(state.nodes, await statusP, await lastP); } catch (e) { if (e.status !== 503) view.replaceChildren(errorBox(e)); return; }
    renderLegend();
    paint();
    mark("states");
  }

  function visibleGraph() {
    const nodes = new Map(), edges = new Map();
    const rep = (n) => state.expanded.has(n.group) ? "a:" + n.key : "g:" + n.group;
    for (const n of state.nodes.values()) {
      const id = rep(n);
      if (!nodes.has(id)) nodes.set(id, id.startsWith("a:") ? {id, asset: n} : {id, group: n.group, members: []});
      if (id.startsWith("g:")) nodes.get(id).members.push(n);
    }
    for (const n of state.nodes.values()) {
      for (const d of n.deps) {
        const up = state.nodes.get(d); if (!up) continue;
        const a = rep(up), b = rep(n);
        if (a !== b) edges.set(a + "\u0000" + b, {v: a, w: b});
      }
    }
    return {nodes, edges: [...edges.values()]};
  }

  function draw(fitAfter) {
    const g = visibleGraph();
    laid = layout(g);
    renderLegend();
    paint();
    if (fitAfter) fit();
  }

  function renderLegend() {
    const counts = {};
    for (const n of state.nodes.values()) counts[n.state] = (counts[n.state] || 0) + 1;
    document.getElementById("legend").replaceChildren(...[...STATES, "source", "unknown"].filter((x) => counts[x])
      .map((x) => h("span", {class: "chip " + x, text: `${x} ${counts[x]}`})));
  }

  function paint() {
    const {x, y, k} = state.transform;
    canvas.setAttribute("transform", `translate(${x},${y}) scale(${k})`);
    const box = svg.getBoundingClientRect();
    const view = {x0: -x / k - 50, y0: -y / k - 50, x1: (box.width - x) / k + 50, y1: (box.height - y) / k + 50};
    const cull = laid.nodes.length > CULL_LIMIT;
    const inView = (n) => !cull || (n.x + n.width / 2 > view.x0 && n.x - n.width / 2 < view.x1 && n.y + n.height / 2 > view.y0 && n.y - n.height / 2 < view.y1);
    const shown = new Set();
    const frag = document.createDocumentFragment();
    for (const c of laid.clusters) frag.append(s("g", {class: "cluster"},
      s("rect", {x: c.x - c.width / 2, y: c.y - c.height / 2, width: c.width, height: c.height, rx: 8}),
      s("text", {x: c.x - c.width / 2 + 8, y: c.y - c.height / 2 + 14, class: "cluster-label"}, c.label)));
    const edgeLayer = s("g", {class: "edges"});
    frag.append(edgeLayer);
    for (const n of laid.nodes) if (inView(n)) { shown.add(n.id); frag.append(nodeEl(n)); }
    for (const e of laid.edges) {
      if (cull && !shown.has(e.v) && !shown.has(e.w)) continue;
      const pts = e.points;
      const d = e.curve ? `M${pts[0].x},${pts[0].y}C${pts[0].x + 70},${pts[0].y} ${pts[3].x - 70},${pts[3].y} ${pts[3].x},${pts[3].y}`
        : "M" + pts.map((p) => `${p.x},${p.y}`).join("L");
      edgeLayer.append(s("path", {d, "marker-end": "url(#arrow)"}));
    }
    canvas.replaceChildren(frag);
  }

  function nodeEl(n) {
    const x = n.x - n.width / 2, y = n.y - n.height / 2;
    const q = state.search.toLowerCase();
    if (n.asset) {
      const a = n.asset;
      const match = q && a.key.toLowerCase().includes(q);
      let codes = a.state === "stale" ? reasonCodes(a).join(", ") : a.state;
      if (a.decisions.some((d) => d.partition !== null)) {
        codes = `${a.decisions.filter((d) => d.state === "fresh").length}/${a.decisions.length} partitions fresh`;
      }
      const el = s("g", {class: `node ${a.state}${match ? " match" : ""}`, "data-key": a.key, transform: `translate(${x},${y})`},
        s("title", {}, `${a.key}: ${a.state}${a.state === "stale" ? " (" + codes + ")" : ""}`),
        s("rect", {width: n.width, height: n.height, rx: 6}),
        s("text", {x: 10, y: 18, class: "label"}, a.key.length > 28 ? "…" + a.key.slice(-27) : a.key),
        s("text", {x: 10, y: 34, class: "sub"}, codes.length > 34 ? codes.slice(0, 33) + "…" : codes));
      el.addEventListener("click", () => { location.href = assetHref(a.key); });
      return el;
    }
    const counts = {};
    for (const m of n.members) counts[m.state] = (counts[m.state] || 0) + 1;
    const match = q && n.members.some((m) => m.key.toLowerCase().includes(q));
    const el = s("g", {class: `node group${match ? " match" : ""}`, "data-group": n.group, transform: `translate(${x},${y})`},
      s("title", {}, `group ${n.group}: ${n.members.length} assets (click to expand)`),
      s("rect", {width: n.width, height: n.height, rx: 10}),
      s("text", {x: 10, y: 18, class: "label"}, `▸ ${n.group}`),
      s("text", {x: 10, y: 34, class: "sub"}, `${n.members.length} assets`));
    let off = 10;
    const barW = n.width - 20;
    for (const st of [...STATES, "source", "unknown"]) {
      if (!counts[st]) continue;
      const w = barW * counts[st] / n.members.length;
      el.append(s("rect", {x: off, y: 42, width: Math.max(w, 1), height: 6, class: "bar " + st}));
      off += w;
    }
    el.addEventListener("click", () => { state.expanded.add(n.group); draw(); });
    return el;
  }

  function fit() {
    if (!laid) return;
    const box = svg.getBoundingClientRect();
    const k = Math.min(1.2, (box.width - 40) / Math.max(laid.width, 1), (box.height - 40) / Math.max(laid.height, 1));
    state.transform = {k: Math.max(k, 0.02), x: 20, y: 20};
    paint();
  }

  // pan and zoom
  let drag = null, frame = null;
  const repaint = () => { if (!frame) frame = requestAnimationFrame(() => { frame = null; paint(); }); };
  svg.addEventListener("mousedown", (ev) => { drag = {x: ev.clientX, y: ev.clientY, t: {...state.transform}}; });
  window.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    state.transform.x = drag.t.x + ev.clientX - drag.x; state.transform.y = drag.t.y + ev.clientY - drag.y; repaint();
  });
  window.addEventListener("mouseup", () => { drag = null; });
  svg.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const box = svg.getBoundingClientRect(), t = state.transform;
    const px = ev.clientX - box.left, py = ev.clientY - box.top;
    const k = Math.min(4, Math.max(0.02, t.k * Math.exp(-ev.deltaY / 400)));
    state.transform = {k, x: px - (px - t.x) * k / t.k, y: py - (py - t.y) * k / t.k}; repaint();
  }, {passive: false});

  current.onSearch = (q) => { state.search = q; if (laid) paint(); };
  current.refresh = refresh;
  return refresh();
}

function layout(g) {
  const size = (n) => n.asset ? {width: 200, height: 44} : {width: 190, height: 56};
  const groups = new Map();
  for (const n of g.nodes.values()) if (n.asset) groups.set(n.asset.group, true);
  if (g.nodes.size > DAGRE_NODES || g.edges.length > DAGRE_EDGES) return layered(g, size);
  const clustered = groups.size > 1 || [...g.nodes.values()].some((n) => !n.asset);
  const dg = new dagre.graphlib.Graph({compound: clustered, multigraph: false});
  dg.setGraph({rankdir: "LR", nodesep: 14, ranksep: 60, marginx: 10, marginy: 10});
  dg.setDefaultEdgeLabel(() => ({}));
  for (const grp of groups.keys()) if (clustered) dg.setNode("c:" + grp, {label: grp, clusterLabelPos: "top"});
  for (const n of g.nodes.values()) {
    dg.setNode(n.id, size(n));
    if (n.asset && clustered) dg.setParent(n.id, "c:" + n.asset.group);
  }
  for (const e of g.edges) dg.setEdge(e.v, e.w);
  dagre.layout(dg);
  const nodes = [], clusters = [];
  for (const id of dg.nodes()) {
    const d = dg.node(id);
    if (id.startsWith("c:")) clusters.push({label: d.label, x: d.x, y: d.y, width: d.width, height: d.height + 16});
    else nodes.push({...g.nodes.get(id), x: d.x, y: d.y, width: d.width, height: d.height});
  }
  const edges = dg.edges().map((e) => ({v: e.v, w: e.w, points: dg.edge(e).points}));
  const gd = dg.graph();
  return {nodes, edges, clusters, width: gd.width, height: gd.height};
}

function layered(g, size) {
  // A linear-time layered layout for views too large for dagre: longest-path ranks (Kahn's
  // order; a cycle between collapsed groups is broken where it is met), then two barycenter
  // sweeps to reduce crossings. Same shape as dagre's result.
  const preds = new Map(), succs = new Map(), indeg = new Map();
  for (const id of g.nodes.keys()) { preds.set(id, []); succs.set(id, []); indeg.set(id, 0); }
  for (const e of g.edges) { preds.get(e.w).push(e.v); succs.get(e.v).push(e.w); indeg.set(e.w, indeg.get(e.w) + 1); }
  const rank = new Map(), queue = [...g.nodes.keys()].filter((id) => indeg.get(id) === 0).sort();
  let left = g.nodes.size;
  while (left > 0) {
    if (!queue.length) {  // a cycle: take the unranked node with the fewest unranked predecessors
      let best = null;
      for (const id of g.nodes.keys()) if (!rank.has(id) && (best === null || indeg.get(id) < indeg.get(best))) best = id;
      queue.push(best); indeg.set(best, 0);
    }
    const id = queue.shift();
    if (rank.has(id)) continue;
    let r = 0;
    for (const v of preds.get(id)) if (rank.has(v)) r = Math.max(r, rank.get(v) + 1);
    rank.set(id, r); left--;
    for (const w of succs.get(id)) { indeg.set(w, indeg.get(w) - 1); if (indeg.get(w) === 0) queue.push(w); }
  }
  const columns = [];
  for (const [id, r] of rank) (columns[r] = columns[r] || []).push(id);
  for (let r = 0; r < columns.length; r++) columns[r] = (columns[r] || []).sort();
  const index = new Map();
  const number = (col) => col.forEach((id, i) => index.set(id, i));
  columns.forEach(number);
  const bary = (id, nbrs) => {
    const xs = nbrs.get(id).filter((v) => index.has(v)).map((v) => index.get(v) / Math.max(1, columns[rank.get(v)].length));
    return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : index.get(id) / columns[rank.get(id)].length;
  };
  for (let sweep = 0; sweep < 2; sweep++) {
    for (let r = 1; r < columns.length; r++) { const b = new Map(columns[r].map((id) => [id, bary(id, preds)])); columns[r].sort((x, y) => b.get(x) - b.get(y)); number(columns[r]); }
    for (let r = columns.length - 2; r >= 0; r--) { const b = new Map(columns[r].map((id) => [id, bary(id, succs)])); columns[r].sort((x, y) => b.get(x) - b.get(y)); number(columns[r]); }
  }
  const tallest = Math.max(1, ...columns.map((c) => c.length));
  const nodes = [], pos = new Map();
  columns.forEach((col, r) => {
    const top = (tallest - col.length) * 30;  // centre each column
    col.forEach((id, i) => {
      const n = g.nodes.get(id), sz = size(n);
      const node = {...n, x: r * 270 + sz.width / 2, y: top + i * 66 + sz.height / 2, ...sz};
      nodes.push(node); pos.set(id, node);
    });
  });
  const edges = g.edges.map((e) => {
    const a = pos.get(e.v), b = pos.get(e.w);
    const p0 = {x: a.x + a.width / 2, y: a.y}, p1 = {x: b.x - b.width / 2, y: b.y};
    return {v: e.v, w: e.w, curve: true, points: [p0, {x: p0.x + 30, y: p0.y}, {x: p1.x - 30, y: p1.y}, p1]};
  });
  return {nodes, edges, clusters: [], width: columns.length * 270, height: tallest * 66};
}

// ---------------------------------------------------------------- the asset page
function assetView(view, key) {
  const head = h("div", {class: "page-head"});
  const body = h("div", {class: "cards"});
  view.replaceChildren(head, body);
  let chosen = null;  // the partition whose why is shown
  let range = null;

  async function refresh() {
    let status, why, log;
    try {
      [status, log] = await Promise.all([getJSON("/api/status?only&select=" + encodeURIComponent(key)),
        getJSON("/api/log/" + key.split("/").map(encodeURIComponent).join("/"))]);
    } catch (e) { if (e.status !== 503) view.replaceChildren(errorBox(e)); return; }
    const mine = status.assets.filter((d) => d.key === key);
    const partitioned = mine.some((d) => d.partition !== null);
    if (partitioned && chosen === null) chosen = (mine.find((d) => d.state === "stale") || mine[0]).partition;
    const pq = partitioned ? "?partition=" + encodeURIComponent(chosen) : "";
    const keyPath = key.split("/").map(encodeURIComponent).join("/");
    why = await getJSON("/api/why/" + keyPath + pq).catch((e) => ({error: e}));
    const st = mine.some((d) => d.state === "stale") ? "stale" : "fresh";
    const makeForm = makeControls(() => ({selection: [key], partition: range ? `${range[0]}...${range[1]}` : (partitioned ? null : null)}));
    const heading = [h("h1", {}, key, " ", badge(live.running.has(key) ? "running" : st)),
      h("div", {class: "actions"}, makeForm,
        !partitioned && why.materialization ? h("a", {href: "/api/artifact/" + keyPath, class: "button", text: "download value"}) : null)];
    const cards = [];
    if (partitioned) cards.push(partitionGrid(mine));
    cards.push(whyCard(why));
    cards.push(historyCard(log.materializations));
    const latest = log.materializations.find((m) => m.kind === "built" || m.kind === "cached");
    if (latest && latest.metadata && Object.keys(latest.metadata).length) cards.push(metadataCard(latest.metadata));
    const checks = latest && latest.checks && latest.checks.length ? latest.checks : null;
    if (checks) cards.push(checksCard(checks));
    if (why.materialization) cards.push(previewCard(keyPath, pq));
    if (!partitioned) cards.push(await lineageCard(keyPath));
    head.replaceChildren(...heading);  // the state and the cards change together, never one before the other
    body.replaceChildren(...cards);
  }

  function partitionGrid(decisions) {
    const grid = h("div", {class: "pgrid"});
    const info = h("p", {class: "muted", text: "click a partition to explain it; shift-click another to select a range, then Make"});
    decisions.forEach((d, i) => {
      const node = `${key}[${d.partition}]`;
      const st = live.running.has(node) ? "running" : d.state === "stale" && d.reasons.some((r) => r.code === "never_materialized") ? "never" : d.state;
      const inRange = range && i >= range[2] && i <= range[3];
      grid.append(h("span", {class: `cell ${st}${d.partition === chosen ? " chosen" : ""}${inRange ? " inrange" : ""}`, title: `${d.partition}: ${st}`,
        "data-partition": d.partition, onclick: (ev) => {
          if (ev.shiftKey && chosen !== null) {
            const a = decisions.findIndex((x) => x.partition === chosen), lo = Math.min(a, i), hi = Math.max(a, i);
            range = [decisions[lo].partition, decisions[hi].partition, lo, hi];
          } else { chosen = d.partition; range = null; }
          refresh();
        }}));
    });
    const label = range ? `selected ${range[0]} … ${range[1]} (${range[3] - range[2] + 1} partitions): Make builds them` : "";
    return section(`Partitions (${decisions.length})`, info, grid, h("p", {id: "range", text: label}));
  }
  current.refresh = refresh;
  return refresh();
}

function whyCard(why) {
  if (why.error) return section("Why", errorBox(why.error));
  const cv = why.code_version;
  const rows = [
    ["code version", cv.current + (cv.origin === "code" || cv.origin === "pin" ? ` (pinned: ${cv.origin}${cv.drifted ? ", source drifted since the pin" : ""})`
                                   : cv.origin === "command" ? " (automatic, from its command and scripts)" : " (automatic)"),
      cv.recorded || "—"],
    ["config", why.config.current || "—", why.config.recorded || "—"],
  ];
  for (const i of why.inputs) rows.push([`input ${i.key} (${i.kind}, ${i.state})`, short(i.current), short(i.recorded)]);
  const reasons = why.reasons.length
    ? h("ul", {class: "reasons"}, why.reasons.map((r) => h("li", {}, h("code", {text: r.code}), " ", r.message)))
    : h("p", {text: "Fresh: rebuilding would give the same value."});
  const m = why.materialization;
  return section("Why " + (why.partition ? `(partition ${why.partition})` : ""),
    h("p", {class: "why-state"}, badge(why.state), why.state === "fresh" ? " up to date" : " will be rebuilt by make"),
    reasons,
    cv.changed_parts && cv.changed_parts.length ? h("p", {class: "muted", text: "changed code: " + cv.changed_parts.join(", ")}) : null,
    table(["", "current", "recorded"], rows.map((r) => r.map((c) => h("code", {text: c})))),
    m ? h("p", {class: "muted"}, `data version ${short(m.data_version)} · ${bytes(m.size)} · ${m.io_manager} · built in ${secs(m.seconds)} · `,
      h("a", {href: runHref((m.run && m.run.restored_in) || m.run_id), text: "run"})) : h("p", {class: "muted", text: "never materialized"}),
    why.warnings && why.warnings.length ? h("ul", {class: "warnings"}, why.warnings.map((w) => h("li", {text: w}))) : null);
}

function historyCard(rows) {
  if (!rows.length) return section("Materializations", h("p", {class: "muted", text: "none recorded yet"}));
  return section("Materializations",
    h("div", {class: "charts"}, sparkline(rows, "seconds", "duration", secs), sparkline(rows, "size", "size", bytes)),
    table(["when", "outcome", "partition", "data version", "duration", "size", "run"], rows.map((r) => [
      when(r.ts), badge(r.kind), r.partition || "", h("code", {text: short(r.data_version)}), secs(r.seconds), bytes(r.size),
      h("a", {href: runHref(r.run_id), text: r.run_id})])));
}

function sparkline(rows, field, label, fmt) {
  const pts = rows.filter((r) => typeof r[field] === "number").slice().reverse();
  const W = 260, H = 60;
  const svg = s("svg", {width: W, height: H + 16, class: "spark"});
  if (pts.length) {
    const max = Math.max(...pts.map((r) => r[field]), 1e-9);
    const step = pts.length > 1 ? (W - 8) / (pts.length - 1) : 0;
    const xy = pts.map((r, i) => [4 + i * step, 4 + (H - 8) * (1 - r[field] / max)]);
    svg.append(s("line", {x1: 4, x2: W - 4, y1: H - 4, y2: H - 4, class: "axis"}));
    svg.append(s("polyline", {points: xy.map((p) => p.join(",")).join(" ")}));
    for (const [x, y] of xy) svg.append(s("circle", {cx: x, cy: y, r: 2.5}));
    svg.append(s("text", {x: 4, y: H + 14}, `${label}: last ${fmt(pts[pts.length - 1][field])}, max ${fmt(max)}`));
  }
  return svg;
}

function metadataCard(meta) {
  return section("Metadata", table(["name", "value"], Object.entries(meta).map(([k, v]) =>
    [k, h("code", {text: typeof v === "object" ? JSON.stringify(v) : String(v)})])));
}

function checksCard(checks) {
  return section("Checks", table(["check", "result", "detail"], checks.map((c) =>
    [c.name || "", badge(c.passed ? "passed" : "failed"), c.description || c.message || (c.metadata ? JSON.stringify(c.metadata) : "")])));
}

function previewCard(keyPath, pq) {
  const box = h("div", {class: "preview"});
  const card = section("Preview", box);
  const LIMIT = 25;
  async function load(offset) {
    const sep = pq ? "&" : "?";
    let p;
    try { p = await getJSON(`/api/preview/${keyPath}${pq}${sep}offset=${offset}&limit=${LIMIT}`); }
    catch (e) { box.replaceChildren(errorBox(e)); return; }
    if (p.kind === "text") { box.replaceChildren(h("pre", {text: p.text + (p.truncated ? "\n…" : "")})); return; }
    if (p.kind !== "table") { box.replaceChildren(h("p", {class: "muted", text: p.message})); return; }
    const cols = p.schema.map((c) => c.name);
    const end = Math.min(p.offset + p.rows.length, p.total_rows);
    box.replaceChildren(
      h("p", {class: "muted"}, `rows ${p.total_rows ? p.offset + 1 : 0}–${end} of ${p.total_rows} · `,
        p.schema.map((c) => `${c.name}: ${c.type}`).join(", ")),
      h("div", {class: "scroll"}, table(cols, p.rows.map((r) => cols.map((c) => r[c] === null ? "null" : String(r[c]))))),
      h("div", {class: "pager"},
        h("button", {type: "button", disabled: p.offset === 0, onclick: () => load(Math.max(0, p.offset - LIMIT)), text: "‹ previous"}),
        h("button", {type: "button", disabled: end >= p.total_rows, onclick: () => load(p.offset + LIMIT), text: "next ›"})));
  }
  load(0);
  return card;
}

async function lineageCard(keyPath) {
  let l;
  try { l = await getJSON("/api/lineage/" + keyPath); } catch (e) { return section("Lineage", errorBox(e)); }
  const link = (k) => h("a", {href: assetHref(k), text: k});
  return section("Lineage",
    h("h3", {text: "built from"}),
    l.inputs.length ? table(["input", "data version"], l.inputs.map((i) => [link(i.key), h("code", {text: short(i.data_version)})]))
      : h("p", {class: "muted", text: l.data_version ? "no inputs" : "not built yet"}),
    h("h3", {text: "used by"}),
    l.downstream.length ? h("ul", {}, l.downstream.map((d) => h("li", {}, link(d.key), d.uses_current === false ? " (built from an older version)" : "")))
      : h("p", {class: "muted", text: "nothing"}));
}

// ---------------------------------------------------------------- runs
function origin(run) {
  const t = run.tags || {};
  return (t.origin || "cli") + (t.job ? ` · job ${t.job}` : "") + (t.schedule ? ` · ${t.schedule}` : "");
}
function counts(c) { return Object.entries(c || {}).filter(([, n]) => n).map(([k, n]) => `${n} ${k}`).join(", "); }

function runsView(view) {
  async function refresh() {
    let log;
    try { log = await getJSON("/api/log?limit=100"); } catch (e) { if (e.status !== 503) view.replaceChildren(errorBox(e)); return; }
    view.replaceChildren(h("h1", {text: "Runs"}), log.runs.length ? table(["run", "status", "origin", "started", "duration", "outcomes", "command"],
      log.runs.map((r) => [h("a", {href: runHref(r.run_id), text: r.run_id}), badge(r.status), origin(r), when(r.started),
        secs(r.seconds), counts(r.counts), h("code", {text: r.command || ""})])) : h("p", {class: "muted", text: "No runs recorded yet."}));
  }
  current.refresh = refresh;
  return refresh();
}

function runView(view, runId) {
  async function refresh() {
    let data;
    try { data = await getJSON("/api/runs/" + encodeURIComponent(runId)); } catch (e) { if (e.status !== 503) view.replaceChildren(errorBox(e)); return; }
    const r = data.run;
    const failures = data.events.filter((e) => e.kind === "failed");
    const logs = data.events.filter((e) => e.kind === "log");
    const done = data.events.filter((e) => ["built", "cached", "failed", "blocked"].includes(e.kind)).length;
    const started = data.events.filter((e) => e.kind === "started").length;
    view.replaceChildren(...[
      h("h1", {}, "Run ", h("code", {text: r.run_id}), " ", badge(r.status)),
      h("p", {class: "muted", id: "run-meta"}, `${origin(r)} · ${when(r.started)} · ${r.user || ""}@${r.host || ""} · pid ${r.pid} · `, h("code", {text: r.command || ""})),
      r.status === "running" ? h("p", {class: "progress"}, `running: ${done} of ${started} started assets finished`) : h("p", {}, counts(r.counts), r.seconds !== null ? ` in ${secs(r.seconds)}` : ""),
      failures.length ? section("Failures", failures.map((e) => h("div", {class: "failure"}, h("h3", {}, h("a", {href: assetHref(e.asset), text: e.asset + (e.partition ? `[${e.partition}]` : "")})), h("pre", {text: (e.metadata && e.metadata.traceback) || e.message || ""})))) : null,
      logs.length ? section("Asset logs", h("pre", {text: logs.map((e) => `${e.asset}: ${e.message}`).join("\n")})) : null,
      section("Events", table(["time", "event", "asset", "duration", "data version", "message"], data.events.filter((e) => e.kind !== "log").map((e) => [
        new Date(e.ts * 1000).toLocaleTimeString(), badge(e.kind), e.asset ? h("a", {href: assetHref(e.asset), text: e.asset + (e.partition ? `[${e.partition}]` : "")}) : "",
        secs(e.seconds), h("code", {text: e.data_version ? short(e.data_version) : ""}),
        e.kind === "failed" ? (e.message || "").split("\n").slice(-1)[0] : (e.kind === "skipped" && !e.asset ? `${(e.metadata.assets || []).length} up to date` : (e.message || ""))])))].filter(Boolean));
  }
  current.refresh = refresh;
  return refresh();
}

// ---------------------------------------------------------------- search and routing
const current = {refresh: null, onSearch: null};
let searchKeys = null;
async function setupSearch() {
  const input = document.getElementById("search"), list = document.getElementById("search-results");
  input.addEventListener("input", async () => {
    const q = input.value.trim().toLowerCase();
    if (current.onSearch) current.onSearch(q);
    if (!q) { list.hidden = true; return; }
    if (searchKeys === null) searchKeys = (await getJSON("/api/ls")).assets.map((a) => a.key);
    const hits = searchKeys.filter((k) => k.toLowerCase().includes(q)).slice(0, 20);
    list.replaceChildren(...hits.map((k) => h("li", {}, h("a", {href: assetHref(k), text: k}))));
    list.hidden = !hits.length;
  });
  input.addEventListener("keydown", (ev) => {
    const first = list.querySelector("a");
    if (ev.key === "Enter" && first) location.href = first.href;
  });
}

function route() {
  const view = document.getElementById("view");
  const path = location.pathname;
  let m;
  document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("here", (a.dataset.nav === "runs") === path.startsWith("/runs")));
  if ((m = /^\/assets\/(.+)$/.exec(path))) return assetView(view, m[1].split("/").map(decodeURIComponent).join("/"));
  if ((m = /^\/runs\/([^/]+)$/.exec(path))) return runView(view, decodeURIComponent(m[1]));
  if (path === "/runs") return runsView(view);
  return graphView(view);
}

document.getElementById("launch-close").addEventListener("click", () => { document.getElementById("launch-panel").hidden = true; });
startLive();
setupSearch();
window.datamakeReady = route().then(() => { document.body.dataset.ready = "1"; });
