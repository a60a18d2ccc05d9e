// The planners' what-if comparison (planner and admin tokens): pick two scenarios (an imported one and
// its forks, see `sched whatif fork` or POST /planner/scenarios/{id}/forks), see their KPIs side by side
// (B − A, the better side marked), the points whose open state or residents differ, and how many
// residents' visits differ. Reads GET /planner/scenarios and GET /planner/compare?a=&b=.
// Uses the dashboard's helpers (api, el, t, table, row, $) and re-renders on a language change.
"use strict";

const whatif = { scenarios: [], comparison: null, error: null };
const PLANNER_ROLES = ["planner", "admin"];

function scenarioLabel(s) {
  const parent = s.parent_id === null ? "" : ` ← ${s.parent_id}`;
  const unsolved = s.version_id === null ? ` (${t("cmp.unsolved")})` : "";
  return `${s.id} · ${s.name}${parent}${unsolved}`;
}

async function loadWhatIf() {
  const card = $("whatif-card");
  card.hidden = !(state.me && PLANNER_ROLES.includes(state.me.role));
  if (card.hidden) return;
  try {
    whatif.scenarios = await api("/planner/scenarios");
  } catch (err) {
    whatif.error = err.message;
    renderWhatIf();
    return;
  }
  // B: the newest what-if; A: its parent (else the first two scenarios).
  const forks = whatif.scenarios.filter((s) => s.parent_id !== null);
  const b = forks.length ? forks[forks.length - 1] : whatif.scenarios[1] || whatif.scenarios[0];
  const a = b && b.parent_id !== null ? b.parent_id : (whatif.scenarios[0] || {}).id;
  for (const [id, chosen] of [["compare-a", a], ["compare-b", b && b.id]]) {
    $(id).replaceChildren(...whatif.scenarios.map((s) => el("option", { value: s.id }, scenarioLabel(s))));
    if (chosen !== undefined) $(id).value = String(chosen);
  }
  renderWhatIf();
}

async function compareScenarios(event) {
  if (event) event.preventDefault();
  const a = $("compare-a").value;
  const b = $("compare-b").value;
  whatif.error = null;
  whatif.comparison = null;
  try {
    whatif.comparison = await api(`/planner/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
  } catch (err) {
    whatif.error = err.message;
  }
  renderWhatIf();
}

function figure(value) {
  if (value === null || value === undefined) return "–";
  return Number.isInteger(value) ? value.toLocaleString() : String(Math.round(value * 10000) / 10000);
}

function renderWhatIf() {
  for (const id of ["compare-a", "compare-b"]) {
    for (const option of $(id).options) {
      const s = whatif.scenarios.find((x) => String(x.id) === option.value);
      if (s) option.textContent = scenarioLabel(s);
    }
  }
  const c = whatif.comparison;
  $("compare-status").textContent = whatif.error ? t("error.prefix") + whatif.error : "";
  $("compare-kpis").replaceChildren();
  $("compare-points").replaceChildren();
  $("compare-residents").textContent = "";
  if (!c) return;
  const side = (s) => `${s.name} (${s.scenario_id}, v${s.version_id})`;
  const kpiRows = c.kpis.map((k) =>
    el(
      "tr",
      { "data-kpi": k.key },
      el("td", {}, (currentLang() === "zh" && DICTIONARY.zh[`cmp.kpi.${k.key}`]) || k.label),
      el("td", { class: k.better === "a" ? "better" : k.better === "b" ? "worse" : null }, figure(k.a)),
      el("td", { class: k.better === "b" ? "better" : k.better === "a" ? "worse" : null }, figure(k.b)),
      el("td", {}, k.delta ? (k.delta > 0 ? "+" : "") + figure(k.delta) : figure(k.delta)),
    ),
  );
  $("compare-kpis").append(
    table([t("cmp.kpi"), `A: ${side(c.a)}`, `B: ${side(c.b)}`, t("cmp.delta")], kpiRows, { id: "compare-table" }),
  );
  $("compare-residents").textContent = t("cmp.residents", { differ: c.residents_differ, moved: c.residents_moved });
  if (!c.points.length) {
    $("compare-points").append(el("p", {}, t("cmp.no_points")));
    return;
  }
  const pointRows = c.points.map((p) =>
    row(
      { "data-point": p.point_id },
      p.point_id,
      t(`cmp.state.${p.a_state}`),
      t(`cmp.state.${p.b_state}`),
      p.a_residents,
      p.b_residents,
      (p.delta > 0 ? "+" : "") + p.delta,
    ),
  );
  $("compare-points").append(
    table(
      [t("map.point"), "A", "B", t("cmp.a_residents"), t("cmp.b_residents"), t("cmp.delta")],
      pointRows,
      { id: "compare-points-table" },
    ),
  );
}

$("compare-form").addEventListener("submit", compareScenarios);
document.addEventListener("sched:signed-in", loadWhatIf);
for (const button of document.querySelectorAll("button[data-lang]")) button.addEventListener("click", renderWhatIf);
