// Centinela operators' console: the live queue, the selected alert, the zone map.
// The token stays in sessionStorage and travels only in the Authorization header
// (the live stream is read with fetch(), not EventSource, so it never lands in a URL).
"use strict";

const TOKEN_KEY = "centinela.token";
const PRIORITY_DEADLINE_S = { 1: 30, 2: 60, 3: 300 };
const SILENCES_REFRESH_MS = 5000;
const $ = (id) => document.getElementById(id);

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || "",
  me: null,
  alerts: new Map(),     // alert_id -> newest Alert seen
  selected: null,        // alert_id
  zoneFilter: "",
  zones: [],
  stream: null,          // AbortController of the live stream
  silencesTimer: null,   // refreshes the silences and what they held back
  audio: null,
  loaded: false,         // the first list is in: later priority-1 alerts are new
  plan: null,            // {alert_id, account, steps} of the selected alert
  passcode: null,        // {alert_id, value} once revealed (and recorded) for the selected alert
  view: "console",       // the shown view: the <main data-view> of that name
  checkinsTimer: null,   // refreshes the check-in list while it is shown
};

const OUTCOMES = [["done", "done"], ["no_answer", "no answer"], ["failed", "failed"], ["skipped", "skip"]];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

// ---- API ------------------------------------------------------------------

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${state.token}`, ...(options.body ? { "Content-Type": "application/json" } : {}) },
  });
  if (response.status === 401) throw new Unauthorized("token refused");
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error(body?.error || `HTTP ${response.status}`);
  return { status: response.status, body };
}

// ---- sign in ----------------------------------------------------------------

function askToken(message = "") {
  $("login-error").textContent = message;
  for (const main of document.querySelectorAll("main.view")) main.hidden = true;
  $("views").hidden = true;
  if (!$("login").open) $("login").showModal();
  $("token").focus();
}

async function signIn(token) {
  state.token = token;
  try {
    state.me = (await api("/api/me")).body;
  } catch (error) {
    state.token = "";
    sessionStorage.removeItem(TOKEN_KEY);
    askToken(error instanceof Unauthorized ? "That token is not valid." : `Cannot reach the center: ${error.message}`);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("login").close();
  showNav();
  showView(state.view);
  $("who").textContent = `${state.me.name} · ${state.me.role}`;
  for (const id of ["act-ack", "act-dispatch", "act-resolve"]) $(id).hidden = !state.me.may_act;
  state.zones = (await api("/api/city")).body.zones;
  fillZoneFilter();
  drawMap();
  connect();
  loadSilences();
  clearInterval(state.silencesTimer);
  state.silencesTimer = setInterval(loadSilences, SILENCES_REFRESH_MS);
}

function signOut() {
  state.stream?.abort();
  clearInterval(state.silencesTimer);
  clearInterval(state.checkinsTimer);
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = "";
  state.alerts.clear();
  state.selected = null;
  state.loaded = false;
  render();
  askToken();
}

// ---- live stream ------------------------------------------------------------

async function connect(delay = 0) {
  state.stream?.abort();
  const controller = new AbortController();
  state.stream = controller;
  if (delay) await new Promise((resolve) => setTimeout(resolve, delay));
  if (controller.signal.aborted) return;
  try {
    const response = await fetch("/api/stream", {
      headers: { Authorization: `Bearer ${state.token}`, Accept: "text/event-stream" },
      signal: controller.signal,
      cache: "no-store",
    });
    if (response.status === 401) return signOut();
    if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
    await readEvents(response.body, controller.signal);
  } catch (error) {
    if (controller.signal.aborted) return;
  }
  setLink(false);
  if (!controller.signal.aborted) connect(Math.min(2000 + Math.random() * 1000, 5000));
}

async function readEvents(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  while (!signal.aborted) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      await onBlock(block);
    }
  }
}

async function onBlock(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line === ": connected") {
      setLink(true);
      await loadQueue();   // subscribed first, listed second: nothing falls in between
    } else if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  if (event === "alert" && data.length) receive(JSON.parse(data.join("\n")), true);
}

function setLink(up) {
  $("link").className = `link ${up ? "up" : "down"}`;
  $("link").textContent = up ? "live" : "reconnecting";
}

async function loadQueue() {
  try {
    const { body } = await api("/api/alerts?status=open");
    const seen = new Set();
    for (const alert of body.alerts) { seen.add(alert.alert_id); receive(alert, false); }
    for (const [id, alert] of state.alerts) if (!seen.has(id) && alert.status !== "resolved") state.alerts.delete(id);
    state.loaded = true;
    render();
  } catch (error) {
    if (error instanceof Unauthorized) signOut();
  }
}

function receive(alert, live) {
  const known = state.alerts.get(alert.alert_id);
  if (known && known.version >= alert.version) return;
  state.alerts.set(alert.alert_id, alert);
  if (!live) return;
  const fresh = !known && state.loaded && alert.priority === 1 && alert.status === "open";
  render();
  if (fresh) announce(alert);
  if (alert.alert_id === state.selected) showDetail();
}

// ---- new priority-1 alert: sound and flash ------------------------------------

function announce(alert) {
  const row = document.querySelector(`tr[data-alert-id="${CSS.escape(alert.alert_id)}"]`);
  row?.classList.add("flash");
  document.body.classList.add("alarm");
  setTimeout(() => document.body.classList.remove("alarm"), 3000);
  if (!state.selected) select(alert.alert_id);
  beep();
}

function beep() {
  try {
    state.audio ||= new AudioContext();
    const now = state.audio.currentTime;
    for (const start of [0, 0.25, 0.5]) {
      const tone = state.audio.createOscillator();
      const gain = state.audio.createGain();
      tone.frequency.value = 1046;
      tone.type = "square";
      gain.gain.setValueAtTime(0.12, now + start);
      gain.gain.exponentialRampToValueAtTime(0.001, now + start + 0.18);
      tone.connect(gain).connect(state.audio.destination);
      tone.start(now + start);
      tone.stop(now + start + 0.2);
    }
  } catch { /* no audio device: the flash remains */ }
}

// ---- queue -------------------------------------------------------------------

function queue() {
  return [...state.alerts.values()]
    .filter((a) => a.status !== "resolved" && (!state.zoneFilter || a.zone_id === state.zoneFilter))
    .sort((a, b) => a.priority - b.priority || Date.parse(a.opened_at) - Date.parse(b.opened_at) || a.alert_id.localeCompare(b.alert_id));
}

function age(since) {
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(since)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}`;
}

function overdue(alert) {
  const deadline = PRIORITY_DEADLINE_S[alert.priority];
  return alert.status === "open" && deadline && Date.now() - Date.parse(alert.opened_at) > deadline * 1000;
}

function render() {
  const rows = queue();
  const flashing = new Set([...document.querySelectorAll("#queue-rows tr.flash")].map((r) => r.dataset.alertId));
  const body = $("queue-rows");
  body.replaceChildren(...rows.map((a) => {
    const row = el("tr", {
      class: `row-p${a.priority}${a.alert_id === state.selected ? " selected" : ""}${flashing.has(a.alert_id) ? " flash" : ""}`,
      dataset: { alertId: a.alert_id, status: a.status, priority: String(a.priority) },
    },
      el("td", {}, el("span", { class: `prio p${a.priority}` }, a.priority)),
      el("td", { class: "age", dataset: { since: a.opened_at } }, age(a.opened_at)),
      el("td", {}, a.zone_id),
      el("td", {}, el("span", { class: `cat cat-${a.category}` }, a.category)),
      el("td", { class: "title" }, a.title, a.cancel_requested ? el("span", { class: "cancel-flag" }, "cancel requested") : ""),
      el("td", { class: "status" }, a.status),
      el("td", { class: "num" }, a.escalation || ""),
      el("td", { class: "num" }, a.count),
    );
    row.addEventListener("click", () => select(a.alert_id));
    return row;
  }));
  $("queue-empty").hidden = rows.length > 0;
  renderCounts();
  drawMarks();
  tick();
}

function renderCounts() {
  const counts = {};
  for (const a of state.alerts.values()) if (a.status !== "resolved") counts[a.priority] = (counts[a.priority] || 0) + 1;
  $("counts").replaceChildren(...Object.keys(counts).sort().map((p) => el("span", { class: `p${p}`, title: `priority ${p}` }, `P${p} ${counts[p]}`)));
}

function tick() {
  for (const cell of document.querySelectorAll("#queue-rows td.age")) {
    cell.textContent = age(cell.dataset.since);
    const alert = state.alerts.get(cell.parentElement.dataset.alertId);
    cell.classList.toggle("overdue", Boolean(alert && overdue(alert)));
  }
  $("clock").textContent = new Date().toLocaleTimeString();
}

// ---- selection and detail ----------------------------------------------------------

function select(alertId) {
  if (state.selected !== alertId) { hideForms(); state.passcode = null; state.plan = null; $("step-note").value = ""; }
  state.selected = alertId;
  $("action-message").textContent = "";
  for (const row of document.querySelectorAll("#queue-rows tr")) row.classList.toggle("selected", row.dataset.alertId === alertId);
  document.querySelector("#queue-rows tr.selected")?.scrollIntoView({ block: "nearest" });
  drawMarks();
  showDetail();
}

function move(step) {
  const rows = queue();
  if (!rows.length) return;
  const at = rows.findIndex((a) => a.alert_id === state.selected);
  const next = at < 0 ? 0 : Math.min(rows.length - 1, Math.max(0, at + step));
  select(rows[next].alert_id);
}

function fact(name, value) {
  return [el("dt", {}, name), el("dd", {}, value ?? "—")];
}

async function showDetail() {
  const alert = state.alerts.get(state.selected);
  $("detail").hidden = !alert;
  $("detail-empty").hidden = Boolean(alert);
  if (!alert) return;
  $("d-title").replaceChildren(el("span", { class: `prio p${alert.priority}` }, alert.priority), " ", alert.title);
  const where = alert.location ? `${alert.location.lat.toFixed(5)}, ${alert.location.lon.toFixed(5)}${alert.location.accuracy_m != null ? ` ±${Math.round(alert.location.accuracy_m)} m` : ""}` : null;
  $("d-facts").replaceChildren(
    ...fact("status", alert.status + (alert.cancel_requested ? " · wearer pressed cancel" : "")),
    ...fact("zone", alert.zone_id),
    ...fact("category", alert.category),
    ...fact("opened", `${new Date(alert.opened_at).toLocaleString()} (${age(alert.opened_at)} ago)`),
    ...fact("source", `${alert.source.kind} ${alert.source.id}`),
    ...fact("signals", alert.count),
    ...fact("escalation", alert.escalation),
    ...fact("address", alert.address),
    ...fact("location", where),
    ...fact("responder", alert.responder),
    ...fact("disposition", alert.disposition ? `${alert.disposition}${alert.note ? ` · ${alert.note}` : ""}` : null),
    ...fact("rule", alert.rule),
  );
  $("act-ack").disabled = alert.status !== "open";
  $("act-dispatch").disabled = alert.status === "resolved";
  $("act-resolve").disabled = alert.status === "resolved";
  $("d-cameras").replaceChildren(...(alert.cameras.length ? alert.cameras.map((c) => el("li", {}, c)) : [el("li", { class: "muted" }, "none in this zone")]));
  await Promise.all([showHistory(alert), showSnapshot(alert), showPlan(alert)]);
}

// ---- the account and its action plan ------------------------------------------------

async function showPlan(alert) {
  let plan;
  try {
    plan = (await api(`/api/alerts/${encodeURIComponent(alert.alert_id)}/plan`)).body;
  } catch { return; }
  if (state.selected !== alert.alert_id) return;
  state.plan = { alert_id: alert.alert_id, ...plan };
  renderAccount(plan.account, alert);
  renderPlan(plan.steps, alert);
}

function renderAccount(account, alert) {
  const facts = [
    ...(account.wearer ? fact("wearer", account.wearer) : []),
    ...(account.address ? fact("address", account.address) : []),
    ...(account.occupants ? fact("occupants", account.occupants) : []),
    ...(account.instructions ? fact("instructions", account.instructions) : []),
  ];
  $("a-facts").replaceChildren(...facts);
  const contacts = account.contacts || [];
  $("a-calls").hidden = !contacts.length;
  $("a-contacts").replaceChildren(...contacts.map((c) => {
    const copy = el("button", { type: "button", class: "phone", title: "copy the number" }, c.phone);
    copy.addEventListener("click", () => copyPhone(copy, c));
    return el("li", {}, el("span", { class: "who" }, c.name, c.relation ? el("span", { class: "muted" }, ` (${c.relation})`) : ""), " ", copy);
  }));
  const shown = state.passcode?.alert_id === alert.alert_id;
  $("a-passcode").hidden = !account.has_passcode || !state.me?.may_act;
  $("reveal").hidden = shown;
  $("reveal").disabled = alert.status === "resolved";
  $("passcode-value").hidden = !shown;
  $("passcode-value").textContent = shown ? state.passcode.value : "";
  $("account").hidden = !(facts.length || contacts.length || !$("a-passcode").hidden);
}

function renderPlan(steps, alert) {
  $("plan").hidden = !steps.length;
  const acting = state.me?.may_act && alert.status !== "resolved";
  $("step-note-label").hidden = !acting;
  const current = steps.find((s) => !s.outcome)?.id;
  $("plan-steps").replaceChildren(...steps.map((step) => {
    const item = el("li", { class: step.id === current ? "current" : "", dataset: { step: step.id, outcome: step.outcome || "" } },
      el("span", { class: "text" }, step.text));
    if (step.outcome) {
      const when = step.at ? new Date(step.at).toLocaleTimeString() : "";
      item.append(el("span", { class: `outcome ${step.outcome}` }, [step.outcome.replace("_", " "), step.by, when, step.note].filter(Boolean).join(" · ")));
    }
    if (acting) {
      const buttons = el("span", { class: "outcomes" });
      OUTCOMES.forEach(([outcome, label], index) => {
        const button = el("button", { type: "button", dataset: { outcome } },
          step.id === current ? el("kbd", {}, index + 1) : "", step.id === current ? " " : "", label);
        button.addEventListener("click", () => recordStep(step.id, outcome));
        buttons.append(button);
      });
      item.append(buttons);
    }
    return item;
  }));
}

function recordStep(stepId, outcome) {
  const note = $("step-note").value.trim();
  $("step-note").value = "";
  return act("steps", { step: stepId, outcome, note }, `${stepId}: ${outcome.replace("_", " ")}`);
}

function currentStep(outcome) {
  const plan = state.plan;
  if (!plan || plan.alert_id !== state.selected) return;
  const step = plan.steps.find((s) => !s.outcome);
  if (step) recordStep(step.id, outcome);
}

async function reveal() {
  const alert = state.alerts.get(state.selected);
  if (!alert || !state.me?.may_act || $("a-passcode").hidden || alert.status === "resolved") return;
  const message = $("action-message");
  try {
    const { body } = await api(`/api/alerts/${encodeURIComponent(alert.alert_id)}/reveal`, { method: "POST", body: "{}" });
    if (state.selected !== alert.alert_id) return;
    state.passcode = { alert_id: alert.alert_id, value: body.passcode };
    message.textContent = `passcode revealed (${body.status} in the history)`;
    showDetail();
  } catch (error) {
    if (error instanceof Unauthorized) return signOut();
    message.textContent = `reveal failed: ${error.message}`;
  }
}

async function copyPhone(button, contact) {
  try {
    await navigator.clipboard.writeText(contact.phone);
  } catch {   // no clipboard permission: copy through a selection instead
    const scratch = el("textarea", { class: "scratch" });
    scratch.value = contact.phone;
    document.body.append(scratch);
    scratch.select();
    document.execCommand("copy");
    scratch.remove();
  }
  $("action-message").textContent = `copied ${contact.name}'s number`;
  button.classList.add("copied");
  setTimeout(() => button.classList.remove("copied"), 1500);
}

async function showHistory(alert) {
  try {
    const { body } = await api(`/api/alerts/${encodeURIComponent(alert.alert_id)}/history`);
    if (state.selected !== alert.alert_id) return;
    $("history-rows").replaceChildren(...body.slice().reverse().map((h) => el("tr", {},
      el("td", {}, h.version),
      el("td", {}, new Date(h.updated_at).toLocaleTimeString()),
      el("td", {}, h.change),
      el("td", {}, h.changed_by),
      el("td", {}, h.status),
      el("td", {}, historyDetail(h)),
    )));
  } catch { /* the alert left our scope or the center is away: keep what is shown */ }
}

function historyDetail(h) {
  if (h.change === "step" && h.steps?.length) {
    const step = h.steps[h.steps.length - 1];
    return [`${step.step} → ${step.outcome.replace("_", " ")}`, step.note].filter(Boolean).join(" · ");
  }
  if (h.change === "passcode_revealed") return "passcode revealed";
  return [h.responder && `→ ${h.responder}`, h.disposition, h.note].filter(Boolean).join(" · ");
}

let snapshotUrl = null;
async function showSnapshot(alert) {
  const image = $("d-snapshot");
  const note = $("d-snapshot-note");
  image.hidden = true;
  note.textContent = alert.snapshot ? "loading snapshot…" : "no snapshot";
  if (!alert.snapshot) return;
  try {
    const response = await fetch(`/api/alerts/${encodeURIComponent(alert.alert_id)}/snapshot`, { headers: { Authorization: `Bearer ${state.token}` } });
    if (!response.ok) throw new Error("unavailable");
    const blob = await response.blob();
    if (state.selected !== alert.alert_id) return;
    if (snapshotUrl) URL.revokeObjectURL(snapshotUrl);
    snapshotUrl = URL.createObjectURL(blob);
    image.src = snapshotUrl;
    image.hidden = false;
    note.textContent = alert.snapshot.split("/").pop();
  } catch {
    note.textContent = "snapshot unavailable";
  }
}

// ---- actions ---------------------------------------------------------------------

function hideForms() {
  $("dispatch-form").hidden = true;
  $("resolve-form").hidden = true;
}

async function act(action, payload, label = action) {
  const alert = state.alerts.get(state.selected);
  if (!alert || !state.me?.may_act) return;
  const message = $("action-message");
  message.textContent = `${label}…`;
  try {
    const { status, body } = await api(`/api/alerts/${encodeURIComponent(alert.alert_id)}/${action}`, {
      method: "POST", body: JSON.stringify(payload ?? {}),
    });
    if (status === 202) message.textContent = `${label} sent; waiting for the alert to change`;
    else { receive(body, true); message.textContent = `${label} recorded by ${state.me.name}`; }
    hideForms();
    showDetail();
  } catch (error) {
    if (error instanceof Unauthorized) return signOut();
    message.textContent = `${label} failed: ${error.message}`;
  }
}

function openForm(id, focus) {
  const alert = state.alerts.get(state.selected);
  if (!alert || alert.status === "resolved" || !state.me?.may_act) return;
  hideForms();
  $(id).hidden = false;
  $(focus).focus();
}

// ---- map ---------------------------------------------------------------------------

let projection = null;

function fillZoneFilter() {
  $("zone-filter").replaceChildren(el("option", { value: "" }, "all"), ...state.zones.map((z) => el("option", { value: z.id }, z.name)));
}

function drawMap() {
  const map = $("map");
  map.replaceChildren();
  const corners = state.zones.flatMap((z) => z.polygon);
  if (!corners.length) return;
  const lons = corners.map((c) => c[0]);
  const lats = corners.map((c) => c[1]);
  const [west, east, south, north] = [Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)];
  const squash = Math.cos(((north + south) / 2) * Math.PI / 180);   // degrees of longitude are shorter away from the equator
  const width = Math.max((east - west) * squash, 1e-6);
  const height = Math.max(north - south, 1e-6);
  const pad = Math.max(width, height) * 0.05;
  projection = (lon, lat) => [(lon - west) * squash, north - lat];
  map.setAttribute("viewBox", `${-pad} ${-pad} ${width + 2 * pad} ${height + 2 * pad}`);
  map.setAttribute("preserveAspectRatio", "xMidYMid meet");
  const label = Math.max(width, height) * 0.035;
  for (const zone of state.zones) {
    const points = zone.polygon.map(([lon, lat]) => projection(lon, lat).join(",")).join(" ");
    const shape = svg("polygon", { points, "data-zone": zone.id });
    shape.append(svg("title"));
    shape.firstChild.textContent = zone.name;
    shape.addEventListener("click", () => { $("zone-filter").value = state.zoneFilter === zone.id ? "" : zone.id; setZoneFilter($("zone-filter").value); });
    map.append(shape);
    const [cx, cy] = zone.polygon.reduce(([x, y], [lon, lat]) => { const [px, py] = projection(lon, lat); return [x + px, y + py]; }, [0, 0]).map((v) => v / zone.polygon.length);
    const text = svg("text", { x: cx, y: cy, "text-anchor": "middle", "font-size": label });
    text.textContent = zone.name;
    map.append(text);
  }
  map.append(svg("g", { id: "marks" }));
  drawMarks();
}

function drawMarks() {
  const marks = document.getElementById("marks");
  if (!marks || !projection) return;
  const hottest = {};
  for (const a of state.alerts.values()) if (a.status !== "resolved") hottest[a.zone_id] = Math.min(hottest[a.zone_id] ?? 9, a.priority);
  for (const shape of document.querySelectorAll("#map polygon")) {
    shape.setAttribute("class", [hottest[shape.dataset.zone] ? `hot-${hottest[shape.dataset.zone]}` : "", shape.dataset.zone === state.zoneFilter ? "active" : ""].join(" ").trim());
  }
  const box = $("map").viewBox.baseVal;
  const radius = Math.max(box.width, box.height) * 0.012;
  marks.replaceChildren(...queue().filter((a) => a.location).map((a) => {
    const [x, y] = projection(a.location.lon, a.location.lat);
    const dot = svg("circle", { cx: x, cy: y, r: a.alert_id === state.selected ? radius * 1.6 : radius, class: `p${a.priority}${a.alert_id === state.selected ? " selected" : ""}`, "data-alert-id": a.alert_id });
    dot.append(svg("title"));
    dot.firstChild.textContent = a.title;
    dot.addEventListener("click", () => select(a.alert_id));
    return dot;
  }));
}

function setZoneFilter(zone) {
  state.zoneFilter = zone;
  render();
}

// ---- silences ----------------------------------------------------------------------

async function loadSilences() {
  let silences;
  try {
    silences = (await api("/api/silences")).body.silences;
  } catch (error) {
    if (error instanceof Unauthorized) return signOut();
    $("silence-message").textContent = `silences: ${error.message}`;
    return;
  }
  const supervisor = state.me?.role === "supervisor";
  $("silences-empty").hidden = silences.length > 0;
  $("silence-rows").replaceChildren(...silences.map((s) => {
    const ends = new Date(s.ends_at);
    const matches = [...s.match.category, ...s.match.source].join(", ") || "everything";
    const end = el("button", { type: "button", class: "end-silence" }, "end");
    end.hidden = !supervisor;
    end.addEventListener("click", () => endSilence(s));
    return el("tr", { dataset: { silenceId: s.id } },
      el("td", {}, s.zones.join(", ")), el("td", {}, matches),
      el("td", { title: ends.toISOString() }, ends.toLocaleString()),
      el("td", { class: "held-back" }, s.held_back), el("td", {}, s.author), el("td", {}, s.reason), el("td", {}, end));
  }));
}

async function endSilence(silence) {
  try {
    await api(`/api/silences/${encodeURIComponent(silence.id)}`, { method: "DELETE" });
    $("silence-message").textContent = `silence ended: ${silence.reason}`;
  } catch (error) {
    $("silence-message").textContent = `could not end the silence: ${error.message}`;
  }
  loadSilences();
}

// ---- views: each <main data-view> has a button in #views; data-roles limits who sees it -----

const VIEW_OPENED = { checkins: openCheckins, reports: openReports };   // view name -> run each time the view is shown

function showNav() {
  for (const button of document.querySelectorAll("#views button")) {
    button.hidden = Boolean(button.dataset.roles) && !button.dataset.roles.split(" ").includes(state.me.role);
  }
  $("views").hidden = false;
}

function showView(name) {
  if (document.querySelector(`#views button[data-view="${CSS.escape(name)}"]`)?.hidden) name = "console";
  state.view = name;
  for (const main of document.querySelectorAll("main.view")) main.hidden = main.dataset.view !== name;
  for (const button of document.querySelectorAll("#views button")) button.setAttribute("aria-pressed", String(button.dataset.view === name));
  clearInterval(state.checkinsTimer);
  VIEW_OPENED[name]?.();
}

// ---- welfare check-ins: the day's call list, who is late, a click to the alert ---------------

const CHECKINS_REFRESH_MS = 15000;

function localDate(when = new Date()) {
  return `${when.getFullYear()}-${String(when.getMonth() + 1).padStart(2, "0")}-${String(when.getDate()).padStart(2, "0")}`;
}

function openCheckins() {
  loadCheckins();
  state.checkinsTimer = setInterval(loadCheckins, CHECKINS_REFRESH_MS);
}

function checkinState(c) {
  if (c.checked_in_at) return c.alert_id ? ["late", "checked in late"] : ["ok", "checked in"];
  if (c.alert_id || Date.now() >= Date.parse(c.deadline)) return ["missed", "no check-in"];
  return ["waiting", Date.now() >= Date.parse(c.due) ? "due, in grace" : "waiting"];
}

// HH:MM on the zone's clock, whose offset that day is the one `due` carries (the browser may be elsewhere)
function zoneTime(iso, due) {
  const offset = due.match(/([+-])(\d{2}):(\d{2})$/);
  const minutes = offset ? (offset[1] === "-" ? -1 : 1) * (Number(offset[2]) * 60 + Number(offset[3])) : 0;
  return new Date(Date.parse(iso) + minutes * 60000).toISOString().slice(11, 16);
}

async function loadCheckins() {
  const day = $("checkins-date").value;   // empty: the center's today, in the city's time zone
  let list;
  try {
    const { body } = await api(`/api/checkins${day ? `?date=${encodeURIComponent(day)}` : ""}`);
    $("checkins-date").value = body.date;
    list = body.checkins;
  } catch (error) {
    if (error instanceof Unauthorized) return signOut();
    $("checkins-message").textContent = `could not load the check-ins: ${error.message}`;
    return;
  }
  $("checkins-message").textContent = "";
  const states = list.map(checkinState);
  $("checkin-rows").replaceChildren(...list.map((c, n) => {
    const [kind, text] = states[n];
    const link = el("button", { type: "button", class: "alert-link" }, "open alert");
    link.addEventListener("click", () => openAlert(c.alert_id));
    return el("tr", { class: `checkin-${kind}`, dataset: { deviceId: c.device_id, state: kind } },
      el("td", { title: c.due }, zoneTime(c.due, c.due)), el("td", { title: c.deadline, class: "muted" }, zoneTime(c.deadline, c.due)),
      el("td", {}, `${c.kind} ${c.device_id}`), el("td", {}, c.zone_id),
      el("td", { class: "checkin-state" }, text),
      el("td", { title: c.checked_in_at || "" }, c.checked_in_at ? zoneTime(c.checked_in_at, c.due) : "—"),
      el("td", {}, c.alert_id ? link : ""));
  }));
  $("checkins-empty").hidden = list.length > 0;
  const count = (kind) => states.filter(([k]) => k === kind).length;
  $("checkins-summary").textContent = `${list.length} scheduled · ${count("ok") + count("late")} checked in · ${count("missed")} missing`;
}

async function openAlert(alertId) {
  if (!state.alerts.has(alertId)) {
    try {
      receive((await api(`/api/alerts/${encodeURIComponent(alertId)}`)).body, false);
    } catch (error) {
      $("checkins-message").textContent = `alert ${alertId}: ${error.message}`;
      return;
    }
  }
  showView("console");
  render();
  select(alertId);
}

// ---- reports: response times, alerts by hour, false-alarm leaders, operators (contract section 13) ----

const REPORT_DAYS = 30;
const FALSE_ALARM_LEADERS = 10;

function openReports() {
  if (!$("reports-to").value) {
    const today = new Date();
    $("reports-to").value = localDate(today);
    $("reports-from").value = localDate(new Date(today.getFullYear(), today.getMonth(), today.getDate() - REPORT_DAYS));
  }
  const zone = $("reports-zone").value;
  $("reports-zone").replaceChildren(el("option", { value: "" }, "all"), ...state.zones.map((z) => el("option", { value: z.id }, z.name)));
  $("reports-zone").value = zone;
  loadReports();
}

function reportQuery(name) {
  // The chosen days, from the first one's local midnight to the midnight after the last one.
  const [from, to] = [$("reports-from").value, $("reports-to").value].map((day) => new Date(`${day}T00:00:00`));
  to.setDate(to.getDate() + 1);
  const query = new URLSearchParams({ from: from.toISOString(), to: to.toISOString() });
  if (name === "response" && $("reports-zone").value) query.set("zone", $("reports-zone").value);
  if (name === "false-alarms") query.set("min_alerts", "1");
  return query;
}

async function loadReports() {
  if (!$("reports-from").value || !$("reports-to").value) return;
  $("reports-message").textContent = "loading…";
  let response, falseAlarms, operators;
  try {
    [response, falseAlarms, operators] = await Promise.all(["response", "false-alarms", "operators"].map(
      async (name) => (await api(`/api/reports/${name}?${reportQuery(name)}`)).body));
  } catch (error) {
    if (error instanceof Unauthorized) return signOut();
    $("reports-message").textContent = `could not load the reports: ${error.message}`;
    return;
  }
  $("reports-message").textContent = "";
  const d = response.dispositions;
  $("reports-summary").textContent = `${response.alerts} alerts`;
  $("dispositions").textContent = `real ${d.real} · false alarm ${d.false_alarm} · test ${d.test} · unresolved ${d.unresolved}`;
  const seconds = (value) => (value === null || value === undefined ? "—" : duration(value));
  const share = (value) => (value === null ? "—" : `${Math.round(value * 100)} %`);
  $("response-rows").replaceChildren(...Object.entries(response.by_priority).map(([priority, p]) => el("tr", { dataset: { priority } },
    el("td", {}, el("span", { class: `prio p${priority}` }, priority)), el("td", { class: "num" }, p.alerts),
    el("td", { class: "num" }, p.acknowledged),
    ...[p.ack_s.p50, p.ack_s.p90, p.ack_s.max, p.dispatch_s.p50, p.dispatch_s.p90, p.resolve_s.p50, p.resolve_s.p90]
      .map((value) => el("td", { class: "num" }, seconds(value))),
    el("td", { class: "num within" }, share(p.within_deadline)))));
  drawHours(response.by_hour);
  $("false-alarm-rows").replaceChildren(...falseAlarms.sources.filter((s) => s.false_alarm > 0).slice(0, FALSE_ALARM_LEADERS)
    .map((s) => el("tr", { dataset: { source: s.id } }, el("td", {}, `${s.kind} ${s.id}`), el("td", { class: "num" }, s.alerts),
      el("td", { class: "num" }, s.resolved), el("td", { class: "num" }, s.false_alarm), el("td", { class: "num" }, share(s.rate)))));
  $("operator-rows").replaceChildren(...operators.operators.map((o) => el("tr", { dataset: { name: o.name } },
    el("td", {}, o.name), ...[o.acknowledged, o.dispatched, o.resolved, o.steps].map((n) => el("td", { class: "num" }, n)),
    el("td", { class: "num" }, seconds(o.ack_p50_s)))));
}

function duration(s) {
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}`;
}

function drawHours(counts) {
  const chart = $("hour-chart");
  const [width, height, base] = [480, 140, 124];
  const top = Math.max(1, ...counts);
  const slot = width / 24;
  chart.replaceChildren(...counts.flatMap((count, hour) => {
    const tall = (count / top) * (base - 12);
    const bar = svg("rect", { x: hour * slot + 2, y: base - tall, width: slot - 4, height: tall, class: "bar",
                              "data-hour": hour, "data-count": count });
    bar.append(svg("title"));
    bar.firstChild.textContent = `${String(hour).padStart(2, "0")}:00 · ${count} alerts`;
    const label = svg("text", { x: hour * slot + slot / 2, y: height - 3, "text-anchor": "middle" });
    label.textContent = hour % 3 === 0 ? String(hour) : "";
    return [bar, label];
  }));
}

async function downloadReport(name) {
  const query = reportQuery(name);
  query.set("format", "csv");
  try {
    const response = await fetch(`/api/reports/${name}?${query}`, { headers: { Authorization: `Bearer ${state.token}` } });
    if (response.status === 401) return signOut();
    if (!response.ok) throw new Error((await response.json().catch(() => null))?.error || `HTTP ${response.status}`);
    const link = el("a", { href: URL.createObjectURL(await response.blob()),
                           download: `centinela-${name}-${$("reports-from").value}-${$("reports-to").value}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (error) {
    $("reports-message").textContent = `could not download the ${name} report: ${error.message}`;
  }
}

// ---- keyboard ----------------------------------------------------------------------

function onKey(event) {
  if (event.target.closest("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) {
    if (event.key === "Escape") { hideForms(); event.target.blur(); }
    return;
  }
  if ($("login").open) return;
  if (state.view !== "console" && event.key !== "?") return;   // the alert keys act on the alerts view only
  const keys = {
    ArrowDown: () => move(1), j: () => move(1), ArrowUp: () => move(-1), k: () => move(-1),
    Home: () => { const first = queue()[0]; if (first) select(first.alert_id); },
    a: () => act("ack"),
    d: () => openForm("dispatch-form", "dispatch-responder"),
    r: () => openForm("resolve-form", "resolve-disposition"),
    p: reveal,
    1: () => currentStep("done"), 2: () => currentStep("no_answer"), 3: () => currentStep("failed"), 4: () => currentStep("skipped"),
    Escape: hideForms,
    "?": () => $("help").showModal(),
  };
  const run = keys[event.key.length === 1 ? event.key.toLowerCase() : event.key] || keys[event.key];
  if (run) { event.preventDefault(); run(); }
}

// ---- start -------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("cancel", (event) => event.preventDefault());
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.audio ||= new AudioContext();   // created on a user gesture, so later beeps may play
    signIn($("token").value.trim());
    $("token").value = "";
  });
  $("logout").addEventListener("click", signOut);
  $("act-ack").addEventListener("click", () => act("ack"));
  $("act-dispatch").addEventListener("click", () => openForm("dispatch-form", "dispatch-responder"));
  $("act-resolve").addEventListener("click", () => openForm("resolve-form", "resolve-disposition"));
  $("reveal").addEventListener("click", reveal);
  // A submitted form gives the keyboard back at once: the live stream may show the change before
  // the POST returns, and the next shortcut must not be typed into the form.
  $("dispatch-form").addEventListener("submit", (event) => { event.preventDefault(); document.activeElement?.blur(); act("dispatch", { responder: $("dispatch-responder").value.trim() }); });
  $("resolve-form").addEventListener("submit", (event) => { event.preventDefault(); document.activeElement?.blur(); act("resolve", { disposition: $("resolve-disposition").value, note: $("resolve-note").value }); });
  for (const button of document.querySelectorAll(".inline-form .cancel")) button.addEventListener("click", hideForms);
  $("zone-filter").addEventListener("change", (event) => setZoneFilter(event.target.value));
  for (const button of document.querySelectorAll("#views button")) button.addEventListener("click", () => showView(button.dataset.view));
  $("reports-form").addEventListener("submit", (event) => { event.preventDefault(); loadReports(); });
  for (const button of document.querySelectorAll("button.csv")) button.addEventListener("click", () => downloadReport(button.dataset.report));
  $("checkins-date").addEventListener("change", loadCheckins);
  document.addEventListener("keydown", onKey);
  setInterval(tick, 1000);
  tick();
  if (state.token) signIn(state.token); else askToken();
});
