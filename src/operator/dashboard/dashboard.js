// ml-operator's dashboard: reads /api/v1/findings and /api/v1/upgrades with the token the
// user pastes (kept in this tab's sessionStorage, sent as `Authorization: Bearer`) and calls
// /api/v1/upgrades/{namespace}/{name}/approve|reject. Relative URLs only (works behind
// `kubectl port-forward` and a path-preserving proxy). Every string from the API is put in the
// page with textContent, never parsed as HTML.
"use strict";

const TOKEN_KEY = "ml-operator-token";
const state = { findings: [], upgrades: [] };

function $(id) { return document.getElementById(id); }

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

function headers() {
  const t = token();
  return t ? { "Authorization": "Bearer " + t } : {};
}

// A table cell holding `text` as text.
function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (className) { td.className = className; }
  return td;
}

function emptyRow(body, columns, text) {
  const tr = document.createElement("tr");
  const td = cell(text, "empty");
  td.colSpan = columns;
  tr.appendChild(td);
  body.appendChild(tr);
}

function showMessage(text, ok) {
  const m = $("message");
  m.textContent = text;
  m.className = ok ? "ok" : "";
  m.hidden = false;
}

function clearMessage() { $("message").hidden = true; }

// The API's reason for a refused request: `error` or `message` of its JSON body.
async function reason(response) {
  try {
    const body = await response.json();
    return body.error || body.message || ("HTTP " + response.status);
  } catch (_) {
    return "HTTP " + response.status;
  }
}

async function getJson(path) {
  const response = await fetch(path, { headers: headers(), cache: "no-store", credentials: "omit" });
  if (!response.ok) {
    throw new Error(path + ": " + response.status + " " + await reason(response));
  }
  return response.json();
}

function fillSelect(select, values) {
  const chosen = select.value;
  while (select.options.length > 1) { select.remove(1); }
  for (const value of values) {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = value;
    select.appendChild(option);
  }
  select.value = values.includes(chosen) ? chosen : "";
}

function renderFindings() {
  const body = $("findings");
  body.replaceChildren();
  const ns = $("filter-namespace").value;
  const status = $("filter-status").value;
  const rows = state.findings.filter(f => (!ns || f.namespace === ns) && (!status || f.status === status));
  for (const f of rows) {
    const tr = document.createElement("tr");
    tr.className = "finding";
    tr.dataset.namespace = f.namespace || "";
    tr.append(
      cell(f.namespace), cell(f.kind), cell(f.name), cell(f.container + (f.initContainer ? " (init)" : "")),
      cell(f.image, "image"), cell(f.latestTag || ""), cell(f.status, "status-" + f.status));
    body.appendChild(tr);
  }
  if (rows.length === 0) { emptyRow(body, 7, "no findings"); }
  $("findings-count").textContent = "(" + rows.length + " of " + state.findings.length + ")";
}

function when(iso) {
  if (!iso) { return ""; }
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function describe(u) {
  return u.repository + " " + (u.fromTags || []).join(", ") + " → " + u.targetTag;
}

// The group's move, repository over tags, as text nodes.
function moveCell(u) {
  const td = document.createElement("td");
  td.className = "image";
  const repository = document.createElement("div");
  repository.textContent = u.repository;
  const tags = document.createElement("div");
  tags.className = "tags";
  tags.textContent = (u.fromTags || []).join(", ") + " → " + u.targetTag;
  td.append(repository, tags);
  return td;
}

// The group's workloads: the first two, and how many more (all of them in the tooltip).
function workloadsCell(u) {
  const names = (u.workloads || []).map(w => w.kind + "/" + w.name);
  const shown = names.slice(0, 2).join(", ") + (names.length > 2 ? " and " + (names.length - 2) + " more" : "");
  const td = cell(shown);
  td.title = names.join("\n");
  return td;
}

function decideButton(u, decision) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = decision;
  b.textContent = decision === "approve" ? "Approve" : "Reject";
  b.dataset.namespace = u.namespace;
  b.dataset.name = u.name;
  b.addEventListener("click", () => decide(b, u, decision));
  return b;
}

function renderUpgrades() {
  const pending = $("pending");
  const outcomes = $("outcomes");
  pending.replaceChildren();
  outcomes.replaceChildren();
  const waiting = state.upgrades.filter(u => u.pending);
  for (const u of waiting) {
    const tr = document.createElement("tr");
    tr.className = "upgrade";
    tr.dataset.name = u.name;
    const decideCell = document.createElement("td");
    if (u.phase === "Available" && !u.approved) {
      decideCell.append(decideButton(u, "approve"), decideButton(u, "reject"));
    } else {
      decideCell.textContent = "approved";
    }
    decideCell.className = "decide";
    tr.append(
      cell(u.namespace), moveCell(u), workloadsCell(u), cell(u.phase, "phase-" + u.phase),
      cell(u.window ? u.window.name : "chosen on approval"),
      cell(u.window ? when(u.window.opensAt) || "now" : ""),
      cell((u.approvals || []).length + " of " + u.requiredApprovals + ((u.approvals || []).length ? ": " + u.approvals.join(", ") : "")),
      decideCell);
    pending.appendChild(tr);
  }
  if (waiting.length === 0) { emptyRow(pending, 8, "nothing waits for a decision"); }
  $("pending-count").textContent = "(" + waiting.length + ")";
  const done = state.upgrades
    .filter(u => ["Succeeded", "Failed", "RolledBack", "Rejected"].includes(u.phase))
    .sort((a, b) => String(b.updatedAt || "").localeCompare(String(a.updatedAt || "")));
  for (const u of done) {
    const tr = document.createElement("tr");
    tr.className = "outcome";
    tr.append(
      cell(when(u.updatedAt)), cell(u.namespace), moveCell(u), cell(u.phase, "phase-" + u.phase),
      cell(u.approval ? u.approval.by + " (" + u.approval.how + ")" : ""), cell(u.message || ""));
    outcomes.appendChild(tr);
  }
  if (done.length === 0) { emptyRow(outcomes, 6, "no finished upgrades yet"); }
}

async function decide(button, u, decision) {
  if (decision === "reject" && !window.confirm("Reject " + describe(u) + "? It will never be applied.")) {
    return;
  }
  button.disabled = true;
  clearMessage();
  const path = "api/v1/upgrades/" + encodeURIComponent(u.namespace) + "/" + encodeURIComponent(u.name) + "/" + decision;
  try {
    const response = await fetch(path, { method: "POST", headers: headers(), credentials: "omit" });
    const text = await reason(response);
    if (response.ok) {
      showMessage(u.namespace + "/" + u.name + ": " + text, true);
    } else {
      showMessage(u.namespace + "/" + u.name + ": " + response.status + " " + text, false);
    }
  } catch (e) {
    showMessage(String(e), false);
  }
  button.disabled = false;
  await load();
}

async function load() {
  $("status").textContent = "Loading…";
  try {
    const [findings, upgrades] = await Promise.all([
      getJson("api/v1/findings"),
      getJson("api/v1/upgrades").catch(e => (String(e).includes(" 404 ") ? { upgrades: [] } : Promise.reject(e))),
    ]);
    state.findings = findings.findings || [];
    state.upgrades = upgrades.upgrades || [];
    fillSelect($("filter-namespace"), [...new Set(state.findings.map(f => f.namespace))].sort());
    fillSelect($("filter-status"), [...new Set(state.findings.map(f => f.status))].sort());
    renderFindings();
    renderUpgrades();
    const s = findings.summary || {};
    $("status").textContent = "Last scan: " + (s.workloads || 0) + " workloads, " + (s.containers || 0) +
      " containers, " + (s.updates || 0) + " updates available. Loaded " + when(new Date().toISOString()) + ".";
    document.body.dataset.loaded = "true";
  } catch (e) {
    $("status").textContent = String(e.message || e);
    document.body.dataset.loaded = "error";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", event => {
    event.preventDefault();
    const t = $("token").value.trim();
    if (t) { sessionStorage.setItem(TOKEN_KEY, t); }
    $("token").value = "";
    clearMessage();
    load();
  });
  $("forget-token").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    state.findings = [];
    state.upgrades = [];
    renderFindings();
    renderUpgrades();
    $("status").textContent = "Token forgotten.";
  });
  $("refresh").addEventListener("click", () => load());
  // Kept fresh while the tab is open: two reads every 15 s, well under the API's rate limit.
  setInterval(() => { if (token() || document.body.dataset.anonymousRead === "true") { load(); } }, 15000);
  $("filter-namespace").addEventListener("change", renderFindings);
  $("filter-status").addEventListener("change", renderFindings);
  // Without a token the reads are refused (401) unless the operator allows anonymous reads.
  if (token() || document.body.dataset.anonymousRead === "true") { load(); }
});
