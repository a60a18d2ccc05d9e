// The coordinators' dashboard: reads the JSON API with the bearer token kept in sessionStorage, draws
// points and buildings on an SVG plot of their coordinates, a point's load per slot against capacity,
// staffing, unserved residents, versions with their diffs, and posts zone changes (then polls the
// versions until the re-solved one is published).
"use strict";

const API = "/api/v1";
const TOKEN_KEY = "sched.token";
const SCENARIO_KEY = "sched.scenario";
const POLL_MS = 1000;
const POLL_TIMEOUT_MS = 180000;
const ROWS_SHOWN = 500;
const DIFF_SHOWN = 200;
const LEVELS = ["normal", "precaution", "controlled", "sealed"];
const LEVEL_COLOURS = { normal: "#6aa56e", precaution: "#e2b53a", controlled: "#e07b2f", sealed: "#c83a3a" };

const state = {
  me: null,
  scenarios: [],
  scenarioId: null,
  version: null, // the newest published version, or null
  map: null,
  loads: null,
  staffing: null,
  unserved: null,
  teams: null,
  versions: [],
  zoneChanges: [],
  point: null, // the selected point id
  roster: null,
  diff: null,
  waiting: null, // {changeId, before, since}: a zone change waiting for its version
};

const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

// A call of the JSON API with the token; the parsed body, or the Response itself with {raw: true}.
async function api(path, options = {}) {
  const headers = { "Accept-Language": currentLang(), ...(options.headers || {}) };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(API + path, { method: options.method || "GET", body: options.body, headers });
  } catch {
    throw new ApiError(0, t("error.network"));
  }
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const problem = await response.json();
      detail = problem.detail || problem.title || detail;
    } catch {
      // not a problem document: keep the status text
    }
    throw new ApiError(response.status, detail);
  }
  return options.raw ? response : response.json();
}

function showError(err) {
  $("error").textContent = err ? t("error.prefix") + err.message : "";
}

const hm = (local) => local.slice(11, 16); // "2022-04-12T08:00:00" -> "08:00"
const span = (start, end) => `${hm(start)}–${hm(end)}`;
const percent = (x) => `${Math.round(x * 100)}%`;

function when(instant) {
  return instant ? new Date(instant).toLocaleString(currentLang() === "zh" ? "zh-CN" : "en-GB") : "";
}

// A table row of text cells.
function row(attrs, ...cells) {
  return el("tr", attrs, cells.map((cell) => el("td", {}, cell)));
}

function table(headers, rows, attrs) {
  return el(
    "table",
    attrs || {},
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows),
  );
}

// --- signing in and loading a scenario -----------------------------------------------------------

async function signIn() {
  try {
    state.me = await api("/me");
    state.scenarios = await api("/scenarios");
  } catch (err) {
    if (err.status === 401) sessionStorage.removeItem(TOKEN_KEY);
    $("main").hidden = true;
    showError(err);
    return;
  }
  showError(null);
  renderWho();
  document.dispatchEvent(new CustomEvent("sched:signed-in")); // whatif.js: the planners' comparison
  const select = $("scenario");
  select.replaceChildren(...state.scenarios.map((s) => el("option", { value: s.id }, scenarioLabel(s))));
  const kept = Number(sessionStorage.getItem(SCENARIO_KEY));
  const chosen = state.scenarios.find((s) => s.id === kept) || state.scenarios[0];
  $("main").hidden = false;
  if (chosen) {
    select.value = String(chosen.id);
    await openScenario(chosen.id);
  }
}

// A what-if fork (planners and admins only) is marked with its parent: its views show the fork's points.
function scenarioLabel(s) {
  return s.parent_id == null ? `${s.id} · ${s.name}` : t("dash.fork_of", { id: s.id, parent: s.parent_id, name: s.name });
}

async function openScenario(id) {
  state.scenarioId = id;
  state.point = null;
  state.roster = null;
  state.diff = null;
  sessionStorage.setItem(SCENARIO_KEY, String(id));
  await loadScenario();
}

// Everything the views show, read at one published version.
async function loadScenario() {
  const base = `/scenarios/${state.scenarioId}`;
  try {
    const [map, versions, zoneChanges] = await Promise.all([
      api(`${base}/map`),
      api(`${base}/versions`),
      api(`${base}/zone-changes`),
    ]);
    let version = null;
    try {
      version = await api(`${base}/schedule`);
    } catch (err) {
      if (err.status !== 404) throw err;
    }
    let views = [null, null, null, null];
    if (version) {
      const q = `?version_id=${version.id}`;
      views = await Promise.all([
        api(`${base}/schedule/loads${q}`),
        api(`${base}/schedule/staffing${q}`),
        api(`${base}/schedule/unserved${q}`),
        api(`${base}/schedule/teams${q}`),
      ]);
    }
    Object.assign(state, { map, versions, zoneChanges, version });
    [state.loads, state.staffing, state.unserved, state.teams] = views;
    if (state.point && !(state.loads && state.loads.points.some((p) => p.point_id === state.point))) {
      state.point = null;
    }
    showError(null);
  } catch (err) {
    showError(err);
    return;
  }
  renderAll();
  if (state.point) await loadRoster();
}

// --- rendering -----------------------------------------------------------------------------------

function renderAll() {
  if (!state.map) return;
  renderWho();
  for (const option of $("scenario").options) {
    const s = state.scenarios.find((x) => x.id === Number(option.value));
    if (s) option.textContent = scenarioLabel(s);
  }
  renderOverview();
  renderMap();
  renderPoint();
  renderRoster();
  renderStaffing();
  renderUnserved();
  renderVersions();
  renderDiff();
  renderZoneForm();
  renderZoneChanges();
  renderTeams();
}

function renderWho() {
  const me = state.me;
  if (!me) return;
  const scope = me.communities.length
    ? t("dash.scope", { communities: me.communities.join(", ") })
    : t("dash.scope_all");
  $("who").textContent = t("dash.who", { name: me.name, role: me.role, scope });
}

function renderOverview() {
  const v = state.version;
  const kpis = $("kpis");
  kpis.replaceChildren();
  if (!v) {
    $("version-line").textContent = t("dash.no_schedule");
    return;
  }
  $("version-line").textContent = t("dash.version", { id: v.id, cause: v.cause, at: when(v.published_at) });
  const k = v.kpis;
  const figures = [
    ["kpi.residents", k.residents],
    ["kpi.covered", k.covered],
    ["kpi.unserved", v.unserved],
    ["kpi.max_util", k.max_slot_utilisation !== undefined ? percent(k.max_slot_utilisation) : "–"],
    ["kpi.desks", k.desks_opened],
    ["kpi.staff_hours", k.staff_hours],
    ["kpi.doorstep", k.doorstep_households],
  ];
  for (const [key, value] of figures) {
    kpis.append(el("div", { "data-kpi": key }, el("dt", {}, t(key)), el("dd", {}, value ?? "–")));
  }
}

// Busiest slot of each point: residents / capacity over the slots that have residents.
function pointUtilisation() {
  const util = {};
  for (const p of state.loads ? state.loads.points : []) {
    util[p.point_id] = Math.max(0, ...p.slots.filter((s) => s.load > 0).map((s) => s.load / Math.max(s.capacity, 1)));
  }
  return util;
}

// [least, most] of many numbers (a district has too many buildings to spread into Math.min).
function extent(values) {
  let [least, most] = [Infinity, -Infinity];
  for (const v of values) {
    if (v < least) least = v;
    if (v > most) most = v;
  }
  return [least, most];
}

function renderMap() {
  const box = $("map");
  const { buildings, points } = state.map;
  const all = [...buildings, ...points];
  box.replaceChildren();
  if (!all.length) return;
  const W = 800;
  const H = 520;
  const pad = 28;
  const lat0 = all.reduce((sum, p) => sum + p.lat, 0) / all.length;
  const k = Math.cos((lat0 * Math.PI) / 180); // metres per degree of longitude shrink with latitude
  const [minX, maxX] = extent(all.map((p) => p.lon * k));
  const [minY, maxY] = extent(all.map((p) => p.lat));
  const scale = Math.min((W - 2 * pad) / Math.max(maxX - minX, 1e-6), (H - 2 * pad) / Math.max(maxY - minY, 1e-6));
  const offX = (W - (maxX - minX) * scale) / 2;
  const offY = (H - (maxY - minY) * scale) / 2;
  const x = (p) => (offX + (p.lon * k - minX) * scale).toFixed(1);
  const y = (p) => (H - offY - (p.lat - minY) * scale).toFixed(1);
  const most = Math.max(1, extent(buildings.map((b) => b.residents))[1]);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": t("map.title") });
  const layer = el("g", { class: "buildings" });
  for (const b of buildings) {
    layer.append(
      el(
        "circle",
        {
          cx: x(b),
          cy: y(b),
          r: (3 + 7 * Math.sqrt(b.residents / most)).toFixed(1),
          fill: LEVEL_COLOURS[b.level],
          class: `building level-${b.level}`,
          "data-building-id": b.building_id,
          "data-level": b.level,
        },
        el("title", {}, `${b.building_id} · ${t(`level.${b.level}`)} · ${b.residents}`),
      ),
    );
  }
  svg.append(layer);
  const util = pointUtilisation();
  const labelled = points.length <= 40;
  for (const p of points) {
    const selected = p.point_id === state.point;
    const mark = el(
      "g",
      {
        class: `point${selected ? " selected" : ""}`,
        "data-point-id": p.point_id,
        tabindex: 0,
        role: "button",
        "aria-label": `${p.name} ${p.point_id}`,
        onclick: () => selectPoint(p.point_id),
        onkeydown: (event) => {
          if (event.key === "Enter" || event.key === " ") selectPoint(p.point_id);
        },
      },
      el("title", {}, `${p.name} (${p.point_id}) · ${p.desks} · ${p.point_id in util ? percent(util[p.point_id]) : ""}`),
      el("rect", { x: Number(x(p)) - 8, y: Number(y(p)) - 8, width: 16, height: 16, rx: 2 }),
    );
    if (labelled) mark.append(el("text", { x: Number(x(p)) + 11, y: Number(y(p)) + 4 }, p.point_id));
    svg.append(mark);
  }
  box.append(svg);
  $("legend").replaceChildren(
    ...LEVELS.map((level) =>
      el("li", {}, el("span", { class: `swatch level-${level}` }), t(`level.${level}`)),
    ),
    el("li", {}, el("span", { class: "swatch point-swatch" }), t("map.point")),
  );
}

async function selectPoint(pointId) {
  state.point = pointId;
  state.roster = null;
  for (const mark of document.querySelectorAll("#map .point")) {
    mark.classList.toggle("selected", mark.dataset.pointId === pointId);
  }
  renderPoint();
  renderRoster();
  await loadRoster();
}

async function loadRoster() {
  const pointId = state.point;
  if (!pointId || !state.version) return;
  try {
    const path = `/scenarios/${state.scenarioId}/schedule/points/${encodeURIComponent(pointId)}/roster`;
    const roster = await api(`${path}?version_id=${state.version.id}`);
    if (state.point === pointId) state.roster = roster.duties;
  } catch (err) {
    showError(err);
  }
  renderRoster();
}

function niceStep(max) {
  const raw = max / 4;
  const power = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || power * 10;
}

function renderPoint() {
  const chart = $("load-chart");
  chart.replaceChildren();
  const load = state.loads && state.loads.points.find((p) => p.point_id === state.point);
  const place = state.map && state.map.points.find((p) => p.point_id === state.point);
  $("point-actions").hidden = !load;
  if (!load || !place) {
    $("point-summary").textContent = t("point.none");
    return;
  }
  const util = pointUtilisation()[load.point_id] || 0;
  $("point-summary").textContent = t("point.summary", {
    name: load.name,
    id: load.point_id,
    desks: load.desks,
    hours: place.hours,
    util: percent(util),
  });
  const slots = load.slots;
  if (!slots.length) return;
  const W = 800;
  const H = 260;
  const [left, right, top, bottom] = [46, 10, 14, 38];
  const most = Math.max(1, ...slots.map((s) => Math.max(s.load, s.capacity)));
  const step = niceStep(most);
  const top_value = Math.ceil(most / step) * step;
  const width = (W - left - right) / slots.length;
  const yOf = (v) => H - bottom - (v / top_value) * (H - top - bottom);
  const svg = el("svg", {
    viewBox: `0 0 ${W} ${H}`,
    role: "img",
    "aria-label": `${t("point.title")} ${load.point_id}`,
    "data-point-id": load.point_id,
  });
  for (let v = 0; v <= top_value; v += step) {
    svg.append(el("line", { x1: left, x2: W - right, y1: yOf(v), y2: yOf(v), class: "grid" }));
    svg.append(el("text", { x: left - 6, y: yOf(v) + 4, class: "axis", "text-anchor": "end" }, v));
  }
  const every = Math.ceil(slots.length / 12);
  let capacity = "";
  slots.forEach((s, i) => {
    const x0 = left + i * width;
    const busy = s.capacity > 0 && s.load / s.capacity > 0.9;
    svg.append(
      el(
        "rect",
        {
          class: `bar${busy ? " busy" : ""}`,
          x: (x0 + 1).toFixed(1),
          width: Math.max(width - 2, 1).toFixed(1),
          y: yOf(s.load).toFixed(1),
          height: (yOf(0) - yOf(s.load)).toFixed(1),
          "data-start": s.start,
          "data-load": s.load,
          "data-capacity": s.capacity,
        },
        el("title", {}, `${span(s.start, s.end)} · ${t("point.load")} ${s.load} / ${t("point.capacity")} ${s.capacity}`),
      ),
    );
    capacity += `${i ? "L" : "M"}${x0.toFixed(1)},${yOf(s.capacity).toFixed(1)}H${(x0 + width).toFixed(1)}`;
    if (i % every === 0) {
      svg.append(el("text", { x: x0 + width / 2, y: H - bottom + 16, class: "axis", "text-anchor": "middle" }, hm(s.start)));
    }
  });
  svg.append(el("path", { d: capacity, class: "capacity" }));
  svg.append(
    el("g", { class: "chart-legend" },
      el("rect", { x: W - 210, y: 4, width: 12, height: 12, class: "load-swatch" }),
      el("text", { x: W - 194, y: 14, class: "axis" }, t("point.load")),
      el("line", { x1: W - 120, x2: W - 104, y1: 10, y2: 10, class: "capacity" }),
      el("text", { x: W - 100, y: 14, class: "axis" }, t("point.capacity")),
    ),
  );
  chart.append(svg);
}

function renderRoster() {
  const box = $("roster");
  box.replaceChildren();
  if (!state.point || !state.roster) return;
  if (!state.roster.length) {
    box.append(el("p", {}, t("point.no_duties")));
    return;
  }
  box.append(
    table(
      [t("col.time"), t("col.role"), t("col.worker"), t("col.kind")],
      state.roster.map((d) =>
        row({}, span(d.start, d.end), t(`role.${d.role}`), `${d.worker_id} ${d.name}`, t(`kind.${d.kind}`)),
      ),
      { id: "roster-table" },
    ),
  );
}

function renderStaffing() {
  const box = $("staffing");
  box.replaceChildren();
  const s = state.staffing;
  if (!s) return;
  const kpis = state.version.kpis;
  if (!s.points_staffed) box.append(el("p", { class: "note" }, t("staff.not_staffed")));
  const coverage = (kpis.staffing && kpis.staffing.requirement_coverage) || {};
  if (Object.keys(coverage).length) {
    box.append(el("h3", {}, t("staff.coverage")));
    const bars = el("ul", { class: "coverage" });
    for (const [role, share] of Object.entries(coverage)) {
      const fill = el("span", { class: `fill${share < 1 ? " short" : ""}` });
      fill.style.width = percent(Math.min(share, 1));
      bars.append(
        el("li", { "data-role": role },
          el("span", { class: "label" }, t(`role.${role}`)),
          el("span", { class: "track" }, fill),
          el("span", { class: "value" }, percent(share)),
        ),
      );
    }
    box.append(bars);
  }
  const hours = (kpis.staffing && kpis.staffing.hours_by_kind) || {};
  if (Object.keys(hours).length) {
    box.append(el("h3", {}, t("staff.hours")));
    box.append(
      table(
        [t("staff.kind"), t("staff.on_duty"), t("staff.range")],
        Object.entries(hours).map(([kind, h]) =>
          row({}, t(`kind.${kind}`), `${h.on_duty}/${h.workers}`, `${h.min_hours}–${h.max_hours} (${h.mean_hours})`),
        ),
      ),
    );
  }
  box.append(el("h3", {}, t("staff.shortfall")));
  const short = s.staff_shortfall || [];
  if (!short.length) box.append(el("p", { id: "no-shortfall" }, t("staff.no_shortfall")));
  else {
    box.append(
      el("ul", { id: "shortfall" }, short.map((entry) =>
        el("li", {}, entry.role
          ? t("shortfall.line", {
            community: entry.community === "public points" ? t("shortfall.public") : entry.community,
            workers: entry.workers,
            role: t(`role.${entry.role}`),
            start: hm(entry.start),
            end: hm(entry.end),
          })
          : entry.text || JSON.stringify(entry)),
      )),
    );
  }
  box.append(el("p", {}, t("staff.no_staff_unserved", { n: s.unserved_no_staff })));
  const door = s.doorstep;
  if (door && door.teams !== undefined) {
    box.append(el("p", {}, t("staff.doorstep", {
      teams: door.teams,
      used: door.samplers_used,
      available: door.samplers_available,
      minutes: door.completion_minutes,
    })));
  }
}

function renderUnserved() {
  const box = $("unserved");
  box.replaceChildren();
  const list = state.unserved ? state.unserved.unserved : [];
  if (!state.unserved) return;
  if (!list.length) {
    box.append(el("p", { id: "unserved-none" }, t("unserved.none")));
    return;
  }
  const reasons = {};
  for (const u of list) reasons[u.reason] = (reasons[u.reason] || 0) + 1;
  box.append(el("p", {}, t("unserved.count", { n: list.length }), " · ",
    Object.entries(reasons).map(([r, n]) => `${t(`reason.${r}`)} ${n}`).join(" · ")));
  box.append(
    table(
      [t("col.resident"), t("col.household"), t("col.building"), t("col.community"), t("col.reason"), t("col.detail")],
      list.slice(0, ROWS_SHOWN).map((u) =>
        row({ "data-reason": u.reason },
          u.resident_id, u.household_id, u.building_id, u.community_id, t(`reason.${u.reason}`), u.detail),
      ),
      { id: "unserved-table" },
    ),
  );
  if (list.length > ROWS_SHOWN) box.append(el("p", {}, t("unserved.more", { n: ROWS_SHOWN })));
}

function renderVersions() {
  const current = state.version && state.version.id;
  $("versions").replaceChildren(
    table(
      ["id", "cause", "published", "changed", "covered", "status"].map((column) => t(`versions.${column}`)),
      state.versions.map((v) =>
        el(
          "tr",
          {
            "data-version-id": v.id,
            class: `${v.id === current ? "current " : ""}${state.diff && state.diff.version_id === v.id ? "shown" : ""}`,
            tabindex: 0,
            onclick: () => showDiff(v.id),
            onkeydown: (event) => {
              if (event.key === "Enter") showDiff(v.id);
            },
          },
          el("td", {}, v.id),
          el("td", {}, v.cause),
          el("td", {}, when(v.published_at)),
          el("td", {}, v.changed_visits ?? "–"),
          el("td", {}, `${v.kpis.covered ?? "–"}/${v.kpis.residents ?? "–"}`),
          el("td", {}, t(`status.${v.status}`)),
        ),
      ),
      { id: "versions-table" },
    ),
  );
}

async function showDiff(versionId) {
  try {
    state.diff = await api(`/scenarios/${state.scenarioId}/versions/${versionId}/diff?limit=${DIFF_SHOWN}`);
  } catch (err) {
    showError(err);
    return;
  }
  renderVersions();
  renderDiff();
}

function visitText(visit) {
  if (!visit) return t("visit.none");
  const time = span(visit.start, visit.end);
  return visit.mode === "point" ? `${visit.point_id} ${time}` : `${t("visit.door", { team: visit.team_id })} ${time}`;
}

function renderDiff() {
  const box = $("diff");
  box.replaceChildren();
  const d = state.diff;
  if (!d) return;
  if (d.parent_id === null) {
    box.append(el("p", {}, t("diff.first", { id: d.version_id })));
    return;
  }
  box.append(el("h3", {}, t("diff.title", { id: d.version_id, parent: d.parent_id })));
  if (!d.changes.length) {
    box.append(el("p", {}, t("diff.none")));
    return;
  }
  box.append(
    table(
      [t("col.resident"), t("diff.old"), t("diff.new")],
      d.changes.map((c) =>
        row({}, c.resident_id, visitText(c.old), visitText(c.new)),
      ),
      { id: "diff-table", "data-version-id": d.version_id },
    ),
  );
  if (d.changes.length >= DIFF_SHOWN) box.append(el("p", {}, t("diff.more", { n: DIFF_SHOWN })));
}

// --- zone changes --------------------------------------------------------------------------------

function renderZoneForm() {
  const readOnly = state.me && state.me.role === "planner";
  for (const field of $("zone-form").elements) field.disabled = readOnly;
  if (readOnly) $("zone-status").textContent = t("zone.readonly");
  const scope = $("zone-scope").value;
  const ids = new Set(state.map.buildings.map((b) => b[`${scope}_id`]));
  $("zone-targets").replaceChildren(...[...ids].sort().map((id) => el("option", { value: id })));
  const effective = $("zone-effective");
  if (!effective.value) {
    const scenario = state.scenarios.find((s) => s.id === state.scenarioId);
    effective.value = scenario ? scenario.start.slice(0, 16) : "";
  }
}

function renderZoneChanges() {
  const changes = state.zoneChanges;
  $("zone-changes").replaceChildren(
    changes.length
      ? table(
        ["#", t("zone.scope"), t("zone.target"), t("zone.level"), t("zone.effective"), ""],
        changes.map((c) =>
          el("tr", { "data-change-id": c.id },
            el("td", {}, c.id),
            el("td", {}, t(`zone.scope.${c.scope}`)),
            el("td", {}, c.target_id),
            el("td", {}, c.level === "normal" ? t("zone.level.normal") : t(`level.${c.level}`)),
            el("td", {}, c.effective_at.slice(0, 16).replace("T", " ")),
            el("td", {}, c.applied_version_id ? t("zone.applied", { id: c.applied_version_id }) : t("zone.pending")),
          ),
        ),
      )
      : "",
  );
}

async function submitZoneChange(event) {
  event.preventDefault();
  const body = {
    scope: $("zone-scope").value,
    target_id: $("zone-target").value.trim(),
    level: $("zone-level").value,
    effective_at: `${$("zone-effective").value.slice(0, 16)}:00`,
  };
  const published = state.versions.find((v) => v.status === "published");
  let accepted;
  try {
    accepted = await api(`/scenarios/${state.scenarioId}/zone-changes`, {
      method: "POST",
      body: JSON.stringify(body),
      headers: { "Content-Type": "application/json" },
    });
  } catch (err) {
    $("zone-status").textContent = t("error.prefix") + err.message;
    return;
  }
  state.waiting = { changeId: accepted.zone_change_id, before: published ? published.id : null, since: Date.now() };
  $("zone-status").textContent = t("zone.recorded", { id: accepted.zone_change_id });
  pollForVersion();
}

// Poll the versions until one newer than the version published before the change is published.
async function pollForVersion() {
  const waiting = state.waiting;
  if (!waiting) return;
  const elapsed = Date.now() - waiting.since;
  try {
    const [versions, zoneChanges] = await Promise.all([
      api(`/scenarios/${state.scenarioId}/versions`),
      api(`/scenarios/${state.scenarioId}/zone-changes`),
    ]);
    state.zoneChanges = zoneChanges;
    renderZoneChanges();
    const newest = versions.find((v) => v.status === "published");
    if (newest && newest.id !== waiting.before) {
      state.waiting = null;
      await loadScenario();
      await showDiff(newest.id);
      $("zone-status").textContent = t("zone.published", { id: newest.id, n: newest.changed_visits ?? 0 });
      return;
    }
  } catch (err) {
    showError(err);
  }
  if (elapsed > POLL_TIMEOUT_MS) {
    state.waiting = null;
    $("zone-status").textContent = t("zone.timeout");
    return;
  }
  $("zone-status").textContent = t("zone.waiting", { id: waiting.changeId, s: Math.round(elapsed / 1000) });
  setTimeout(pollForVersion, POLL_MS);
}

// --- teams and printables ------------------------------------------------------------------------

function renderTeams() {
  const box = $("teams");
  box.replaceChildren();
  $("notices").disabled = !state.version;
  if (!state.teams) return;
  if (!state.teams.teams.length) {
    box.append(el("p", {}, t("teams.none")));
    return;
  }
  const base = `/scenarios/${state.scenarioId}/schedule/print/teams/`;
  const print = (team, format) => el(
    "button",
    { type: "button", onclick: () => openPrintable(base + encodeURIComponent(team.team_id), format) },
    t(format === "html" ? "point.print" : "point.xlsx"),
  );
  box.append(
    table(
      [t("teams.team"), t("teams.households"), t("teams.members"), t("teams.time"), ""],
      state.teams.teams.map((team) =>
        el("tr", { "data-team-id": team.team_id },
          el("td", {}, team.team_id),
          el("td", {}, team.households),
          el("td", {}, team.members),
          el("td", {}, span(team.first_arrive, team.last_depart)),
          el("td", {},
            print(team, "html"),
            " ",
            print(team, "xlsx"),
          ),
        ),
      ),
      { id: "teams-table" },
    ),
  );
}

function filenameOf(response, fallback) {
  const header = response.headers.get("Content-Disposition") || "";
  const star = /filename\*=UTF-8''([^;]+)/i.exec(header);
  if (star) return decodeURIComponent(star[1]);
  const plain = /filename="?([^";]+)"?/i.exec(header);
  return plain ? plain[1] : fallback;
}

// Fetch a printable with the token and open it (a page, in a new tab) or save it (a file).
async function openPrintable(path, format) {
  const page = format === "html" ? window.open("", "_blank") : null;
  const query = `${path.includes("?") ? "&" : "?"}lang=${currentLang()}&version_id=${state.version.id}`;
  try {
    const response = await api(path + (format ? `${query}&format=${format}` : query), { raw: true });
    const url = URL.createObjectURL(await response.blob());
    if (page) page.location.href = url;
    else {
      const link = el("a", { href: url, download: filenameOf(response, "schedule") });
      document.body.append(link);
      link.click();
      link.remove();
    }
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (err) {
    if (page) page.close();
    showError(err);
  }
}

function pointPrintable(format) {
  if (state.point) {
    openPrintable(`/scenarios/${state.scenarioId}/schedule/print/points/${encodeURIComponent(state.point)}`, format);
  }
}

// --- wiring --------------------------------------------------------------------------------------

function start() {
  setupLanguageToggle(renderAll);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token").value = "";
    signIn();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    Object.assign(state, { me: null, map: null, version: null, waiting: null });
    $("main").hidden = true;
    $("who").textContent = "";
  });
  $("scenario").addEventListener("change", (event) => openScenario(Number(event.target.value)));
  $("refresh").addEventListener("click", loadScenario);
  $("zone-scope").addEventListener("change", renderZoneForm);
  $("zone-form").addEventListener("submit", submitZoneChange);
  $("point-print").addEventListener("click", () => pointPrintable("html"));
  $("point-xlsx").addEventListener("click", () => pointPrintable("xlsx"));
  $("notices").addEventListener("click", () =>
    openPrintable(`/scenarios/${state.scenarioId}/schedule/print/notices.csv`, null),
  );
  if (sessionStorage.getItem(TOKEN_KEY)) signIn();
}

start();
