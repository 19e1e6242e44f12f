// The Map view for the security commission (contract section 14): the zones with the hotspot cells of
// a chosen period and category, a click for a cell's count, z and trend, and the interventions' results.
// It runs beside console.js and uses its helpers ($, el, svg, api, state, localDate, VIEW_OPENED).
"use strict";

const HOTSPOT_DAYS = 90;
const hotspots = { cells: new Map(), trends: new Map(), selected: null };

function openHotspots() {
  if (!$("hotspots-to").value) {
    const today = new Date();
    $("hotspots-to").value = localDate(today);
    $("hotspots-from").value = localDate(new Date(today.getFullYear(), today.getMonth(), today.getDate() - HOTSPOT_DAYS));
  }
  loadHotspots();
}

function hotspotPeriod() {
  // The chosen days, from the first one's local midnight to the midnight after the last one.
  const [from, to] = [$("hotspots-from").value, $("hotspots-to").value].map((day) => new Date(`${day}T00:00:00`));
  to.setDate(to.getDate() + 1);
  return [from, to];
}

async function loadHotspots() {
  if (!$("hotspots-from").value || !$("hotspots-to").value) return;
  const [from, to] = hotspotPeriod();
  const category = $("hotspots-category").value;
  const resolution = $("hotspots-resolution").value;
  const query = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), resolution });
  const weeks = Math.max(2, Math.floor((to - from) / (7 * 86400 * 1000)));
  const trendQuery = new URLSearchParams({ weeks, to: to.toISOString(), resolution });
  if (category) { query.set("category", category); trendQuery.set("category", category); }
  $("hotspots-message").textContent = "loading…";
  let map, trends;
  try {
    [map, trends] = await Promise.all([api(`/api/reports/hotspots?${query}`), api(`/api/reports/trends?${trendQuery}`)]);
  } catch (error) {
    if (error instanceof Unauthorized) return signOut();
    $("hotspots-message").textContent = `could not load the map: ${error.message}`;
    return;
  }
  $("hotspots-message").textContent = "";
  const body = map.body;
  const classes = body.features.map((f) => f.properties.class);
  $("hotspots-summary").textContent = `${body.incidents} incidents in the zones · ${body.outside} outside · `
    + `${body.unlocated} without location · ${classes.filter((c) => c === "hot").length} hot, `
    + `${classes.filter((c) => c === "cold").length} cold cells`;
  hotspots.trends = new Map(trends.body.cells.map((t) => [t.cell, t]));
  hotspots.trendWeeks = weeks;
  drawHotspots(body.features);
  showCell(null);
  loadInterventions();
}

function drawHotspots(features) {
  const map = $("hotspot-map");
  map.replaceChildren();
  hotspots.cells = new Map(features.map((f) => [f.properties.cell, f.properties]));
  const corners = [...state.zones.flatMap((z) => z.polygon), ...features.flatMap((f) => f.geometry.coordinates[0])];
  if (!corners.length) return;
  const lons = corners.map((c) => c[0]);
  const lats = corners.map((c) => c[1]);
  const [west, east, south, north] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
  const squash = Math.cos(((north + south) / 2) * Math.PI / 180);   // degrees of longitude are shorter away from the equator
  const [width, height] = [Math.max((east - west) * squash, 1e-6), Math.max(north - south, 1e-6)];
  const pad = Math.max(width, height) * 0.03;
  const project = ([lon, lat]) => [(lon - west) * squash, north - lat];
  map.setAttribute("viewBox", `${-pad} ${-pad} ${width + 2 * pad} ${height + 2 * pad}`);
  map.setAttribute("preserveAspectRatio", "xMidYMid meet");
  const busiest = Math.max(1, ...features.map((f) => f.properties.count));
  for (const feature of features) {
    const p = feature.properties;
    const points = feature.geometry.coordinates[0].map((c) => project(c).join(",")).join(" ");
    const shape = svg("polygon", { points, class: `cell ${p.class}`, "data-cell": p.cell, "data-class": p.class, "data-count": p.count });
    if (p.class === "none") shape.style.fillOpacity = String(0.25 + 0.75 * (p.count / busiest));
    shape.append(svg("title"));
    shape.firstChild.textContent = `${p.count} incidents`;
    shape.addEventListener("click", () => showCell(p.cell));
    map.append(shape);
  }
  const label = Math.max(width, height) * 0.03;
  for (const zone of state.zones) {
    map.append(svg("polygon", { points: zone.polygon.map((c) => project(c).join(",")).join(" "), class: "zone", "data-zone": zone.id }));
    const [cx, cy] = zone.polygon.map(project).reduce(([x, y], [px, py]) => [x + px, y + py], [0, 0]).map((v) => v / zone.polygon.length);
    const text = svg("text", { x: cx, y: cy, "text-anchor": "middle", "font-size": label });
    text.textContent = zone.name;
    map.append(text);
  }
}

function showCell(cell) {
  hotspots.selected = cell;
  for (const shape of document.querySelectorAll("#hotspot-map polygon.cell")) shape.classList.toggle("selected", shape.dataset.cell === cell);
  const p = cell ? hotspots.cells.get(cell) : null;
  $("cell-detail").hidden = !p;
  $("cell-empty").hidden = Boolean(p);
  if (!p) return;
  const trend = hotspots.trends.get(cell);
  const trendText = trend
    ? `${trend.trend} (tau ${trend.tau.toFixed(2)}, p ${trend.p.toPrecision(2)}, ${trend.incidents} incidents in ${hotspots.trendWeeks} complete weeks)`
    : `no trend test: fewer than 10 incidents in the ${hotspots.trendWeeks} complete weeks`;
  const rows = [["cell", p.cell], ["incidents", p.count], ["class", p.class], ["z", p.z.toFixed(2)], ["p", p.p.toPrecision(2)], ["trend", trendText]];
  $("cell-detail").replaceChildren(...rows.flatMap(([name, value]) => [el("dt", {}, name), el("dd", { dataset: { field: name } }, value)]));
}

async function loadInterventions() {
  let list;
  try {
    list = (await api("/api/reports/interventions")).body.interventions;
  } catch (error) {
    $("hotspots-message").textContent = `could not load the interventions: ${error.message}`;
    return;
  }
  $("interventions-empty").hidden = list.length > 0;
  const results = await Promise.all(list.map((i) => api(`/api/reports/interventions/${encodeURIComponent(i.id)}`)
    .then((answer) => answer.body, (error) => ({ ...i, failed: error.message }))));
  const ratio = (value) => (value === null ? "—" : value.toFixed(2));
  $("intervention-rows").replaceChildren(...results.map((r) => el("tr", { dataset: { intervention: r.id } },
    el("td", { title: r.zones?.join(", ") }, r.name || r.id), el("td", {}, r.start),
    ...(r.failed ? [el("td", { colspan: 5, class: "error" }, r.failed)] : [
      el("td", {}, `${r.treated.before} → ${r.treated.after}`), el("td", {}, `${r.comparison.before} → ${r.comparison.after}`),
      ...(r.reason
        ? [el("td", { colspan: 3, class: "muted reason" }, r.reason)]
        : [el("td", { class: "ratio" }, ratio(r.rate_ratio)), el("td", {}, `${ratio(r.ci95[0])} – ${ratio(r.ci95[1])}`),
           el("td", {}, r.p.toPrecision(2))]),
    ]))));
}

VIEW_OPENED.hotspots = openHotspots;
document.addEventListener("DOMContentLoaded", () => {
  $("hotspots-form").addEventListener("submit", (event) => { event.preventDefault(); loadHotspots(); });
});
