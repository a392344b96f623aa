// The inspector: a view of one mock through its admin API, and nothing else.
// Plain JavaScript, no build step, no library. Everything shown is written with
// textContent (the journal holds what clients sent: it is never parsed as HTML).
"use strict";

const BASE = location.pathname.replace(/\/ui\/?$/, "");
const TOKEN_KEY = "vidu-lipsync-mock-admin-token";
const ROW_HEIGHT = 24;
const PAGE = 2000;
const MAX_ROWS = 20000;
const LATE_WINDOW = 200; // a request journaled after later ones (it took longer) is still seen

const $ = (id) => document.getElementById(id);

function takeTokenFromFragment() {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    localStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers["X-Mock-Admin-Token"] = token;
  const init = { method, headers, credentials: "same-origin" };
  if (method !== "GET") {
    // Every write is JSON, even one with nothing to say: the admin API refuses others.
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body === undefined ? {} : body);
  }
  const response = await fetch(BASE + path, init);
  const envelope = await response.json().catch(() => null);
  if (!response.ok || !envelope || envelope.code !== 0) {
    const message = envelope && envelope.message ? envelope.message : response.statusText;
    throw new Error(`${method} ${path}: ${response.status} ${message}`);
  }
  return envelope.data;
}

function showError(error) {
  const box = $("error");
  box.textContent = error ? String(error.message || error) : "";
  box.hidden = !error;
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function button(label, onClick) {
  const node = el("button", label);
  node.type = "button";
  node.addEventListener("click", () => onClick().then(refresh).catch(showError));
  return node;
}

function time(seconds) {
  if (seconds === null || seconds === undefined) return "";
  return new Date(seconds * 1000).toISOString().replace("T", " ").replace("Z", "");
}

// -- tabs -------------------------------------------------------------------------------

let activeTab = "tasks";

function showTab(name) {
  activeTab = name;
  for (const b of document.querySelectorAll("nav button")) {
    b.classList.toggle("active", b.dataset.tab === name);
  }
  for (const section of document.querySelectorAll("section")) {
    section.hidden = section.id !== `tab-${name}`;
  }
  refresh();
}

// -- tasks ------------------------------------------------------------------------------

const NEXT = { pending: "processing", processing: "success" };

async function refreshTasks() {
  const tasks = await api("GET", "/timelines");
  const body = $("tasks-body");
  body.replaceChildren();
  $("tasks-empty").hidden = tasks.length > 0;
  for (const task of tasks) {
    const row = el("tr");
    row.dataset.task = task.task_id;
    row.append(el("td", task.task_id), el("td", task.model_id));
    row.append(el("td", task.status, `status status-${task.status}`));
    row.append(el("td", task.api_key), el("td", time(task.submitted_at)));
    row.append(el("td", time(task.finished_at)));
    const timeline = el("td", null, "timeline");
    // Each change after the first, as seconds after the submit.
    timeline.textContent = task.timeline
      .map((s, i) => (i ? `${s.status} +${(s.at - task.submitted_at).toFixed(1)} s` : s.status))
      .join(" → ");
    if (task.error_message) timeline.append(el("div", task.error_message, "muted"));
    row.append(timeline);
    const result = el("td");
    if (task.result_path) {
      const link = el("a", "video");
      link.href = task.result_path;
      const video = el("video");
      video.controls = true;
      video.preload = "none";
      video.src = task.result_path;
      result.append(link, video);
    }
    row.append(result);
    const actions = el("td");
    if (!["success", "failed"].includes(task.status)) {
      const force = el("select");
      force.className = "force-status";
      for (const status of ["processing", "success", "failed"]) force.append(el("option", status));
      actions.append(
        force,
        button("Force", () => api("POST", `/tasks/${task.task_id}/force`, { status: force.value })),
        button("Push", () =>
          api("POST", `/tasks/${task.task_id}/force`, { status: NEXT[task.status] })),
      );
    }
    actions.append(button("Delete", () => api("DELETE", `/tasks/${task.task_id}`)));
    row.append(actions);
    body.append(row);
  }
}

// -- journal: rows kept here, drawn only where the list is scrolled to ------------------

// `generation` changes with the filters: an answer to a query made before is dropped.
const journal = { rows: new Map(), ordered: [], lastSeq: 0, filters: "", generation: 0 };

function filterQuery() {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData($("journal-filters"))) {
    if (String(value).trim()) params.set(name, String(value).trim());
  }
  return params;
}

function applyFilters() {
  const params = filterQuery();
  journal.filters = params.toString();
  journal.generation += 1;
  journal.rows.clear();
  journal.ordered = [];
  journal.lastSeq = 0;
  $("har-link").href = `${BASE}/journal.har${journal.filters ? "?" + journal.filters : ""}`;
  return loadRange(0, null);
}

function keep(rows) {
  for (const row of rows) journal.rows.set(row.seq, row);
  journal.ordered = [...journal.rows.values()].sort((a, b) => b.seq - a.seq).slice(0, MAX_ROWS);
}

async function rowsPage(extra) {
  const generation = journal.generation;
  const params = new URLSearchParams(journal.filters);
  for (const [name, value] of Object.entries(extra)) params.set(name, value);
  const page = await api("GET", `/journal/rows?${params}`);
  if (generation !== journal.generation) return null; // the filters changed meanwhile
  $("journal-total").textContent = page.count;
  $("journal-dropped").textContent = page.dropped;
  // Only a page without `before` reached the newest exchange: an older page's answer
  // says nothing of what lies between it and the newest page.
  if (extra.before === undefined) journal.lastSeq = Math.max(journal.lastSeq, page.last_seq);
  return page.rows;
}

async function loadRange(since, before) {
  // Newest first: a page that comes back full may hide older rows after `since`, so the
  // pages before it are fetched in the background, up to MAX_ROWS.
  const extra = { since, limit: PAGE };
  if (before !== null) extra.before = before;
  const rows = await rowsPage(extra);
  if (rows === null) return;
  keep(rows);
  drawJournal();
  if (rows.length === PAGE && journal.rows.size < MAX_ROWS) {
    setTimeout(() => loadRange(since, rows[0].seq).catch(showError), 0);
  }
}

function refreshJournal() {
  return loadRange(Math.max(0, journal.lastSeq - LATE_WINDOW), null);
}

function attemptText(attempt) {
  if (!attempt) return "";
  const retry = attempt.retries ? " retry" : "";
  return `#${attempt.first} try ${attempt.number}${retry}`;
}

function journalRow(row) {
  const line = el("div", null, "jrow journal-grid");
  line.dataset.seq = row.seq;
  line.append(el("span", row.seq), el("span", row.method));
  line.append(el("span", row.query ? `${row.path}?${row.query}` : row.path));
  line.append(el("span", row.status || "---", `s${Math.floor(row.status / 100)}`));
  line.append(el("span", row.duration_ms.toFixed(1)));
  const outcome = row.outcome === "response" ? "" : row.outcome;
  const fault = row.fault && row.fault_phase ? `${row.fault} (${row.fault_phase})` : row.fault;
  line.append(el("span", [fault, outcome].filter(Boolean).join(" / ")));
  line.append(el("span", attemptText(row.attempt), row.attempt && row.attempt.retries ? "retry" : ""));
  line.append(el("span", row.request_id));
  line.addEventListener("click", () => openExchange(row.seq).catch(showError));
  return line;
}

function drawJournal() {
  const scroll = $("journal-scroll");
  const rows = journal.ordered;
  $("journal-spacer").style.height = `${rows.length * ROW_HEIGHT}px`;
  $("journal-count").textContent = rows.length;
  const first = Math.floor(scroll.scrollTop / ROW_HEIGHT);
  const visible = Math.ceil((scroll.clientHeight || 600) / ROW_HEIGHT) + 10;
  const box = $("journal-rows");
  box.style.transform = `translateY(${first * ROW_HEIGHT}px)`;
  box.replaceChildren(...rows.slice(first, first + visible).map(journalRow));
}

async function openExchange(seq) {
  const entry = await api("GET", `/journal/${seq}`);
  $("exchange-title").textContent = `#${seq} ${entry.method} ${entry.path} → ${entry.status}`;
  $("exchange-body").textContent = JSON.stringify(entry, null, 2);
  $("exchange").hidden = false;
}

// -- faults: the form is built from the kinds' declarations -----------------------------

let kinds = null;

async function loadKinds() {
  kinds = await api("GET", "/faults/kinds");
  const select = $("rule-kind");
  select.replaceChildren(...kinds.kinds.map((k) => el("option", k.name)));
  $("rule-route").replaceChildren(...kinds.routes.map((r) => el("option", r)));
  $("rule-route").value = "any";
  $("rule-schedule").replaceChildren(...kinds.schedules.map((s) => el("option", s)));
  select.addEventListener("change", drawParams);
  drawParams();
}

function drawParams() {
  const kind = kinds.kinds.find((k) => k.name === $("rule-kind").value);
  $("rule-doc").textContent = `${kind.group}: ${kind.doc}`;
  const box = $("rule-params");
  box.replaceChildren(el("legend", "options"));
  for (const param of kind.params) {
    const label = el("label", `${param.name} `);
    let input;
    if (param.choices.length) {
      input = el("select");
      input.append(el("option", ""), ...param.choices.map((c) => el("option", c)));
    } else {
      input = el("input");
      input.placeholder = param.default === null ? param.type : String(param.default);
      input.size = 10;
    }
    input.name = `param:${param.name}`;
    input.dataset.type = param.type;
    input.title = `${param.doc} (${param.accepted})`;
    label.append(input);
    box.append(label);
  }
}

function ruleFromForm() {
  const form = $("rule-form");
  const fault = { kind: $("rule-kind").value };
  for (const input of form.querySelectorAll("[name^='param:']")) {
    const raw = input.value.trim();
    if (!raw) continue;
    fault[input.name.slice(6)] = input.dataset.type === "str" ? raw : Number(raw);
  }
  const schedule = { kind: form.schedule.value };
  const value = form.schedule_value.value.trim();
  if (value && schedule.kind === "probability") schedule.p = Number(value);
  else if (value) schedule.n = Number(value);
  return { fault, match: { route: form.route.value }, schedule, phase: form.phase.value };
}

async function refreshFaults() {
  if (!kinds) await loadKinds();
  const rules = await api("GET", "/faults");
  const body = $("rules-body");
  body.replaceChildren();
  for (const rule of rules) {
    const row = el("tr");
    row.dataset.rule = rule.id;
    for (const value of [rule.id, JSON.stringify(rule.fault), JSON.stringify(rule.match),
      JSON.stringify(rule.schedule), rule.phase, rule.seen, rule.hits]) {
      row.append(el("td", value));
    }
    const cell = el("td");
    cell.append(button("Remove", () => api("DELETE", `/faults/${rule.id}`)));
    row.append(cell);
    body.append(row);
  }
}

// -- clock and balances -----------------------------------------------------------------

async function refreshClock() {
  const clock = await api("GET", "/clock");
  $("clock-now").textContent = time(clock.now);
  $("clock-kind").textContent = clock.kind;
  $("clock-speed").textContent = clock.speed === undefined ? "n/a" : clock.speed;
  const accounts = await api("GET", "/accounts");
  const body = $("accounts-body");
  body.replaceChildren();
  for (const account of accounts) {
    const row = el("tr");
    const keys = account.keys.map((k) => `${k.redacted} (${k.fingerprint})`).join(", ");
    for (const value of [account.name || account.team, keys, account.balance, account.held,
      account.spent]) {
      row.append(el("td", value));
    }
    body.append(row);
  }
}

// -- the loop ---------------------------------------------------------------------------

const REFRESH = { tasks: refreshTasks, journal: refreshJournal, faults: refreshFaults,
  clock: refreshClock };

let refreshing = null;

function refresh() {
  if (refreshing) return refreshing;
  refreshing = REFRESH[activeTab]()
    .then(() => {
      $("live").classList.remove("stale");
      showError(null);
    })
    .catch((error) => {
      $("live").classList.add("stale");
      showError(error);
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

function start() {
  takeTokenFromFragment();
  for (const b of document.querySelectorAll("nav button")) {
    b.addEventListener("click", () => showTab(b.dataset.tab));
  }
  $("token-button").addEventListener("click", () => {
    const token = prompt("X-Mock-Admin-Token (empty: none)", localStorage.getItem(TOKEN_KEY) || "");
    if (token === null) return;
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
    refresh();
  });
  $("journal-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    applyFilters().catch(showError);
  });
  $("journal-filters").addEventListener("reset", () => {
    setTimeout(() => applyFilters().catch(showError), 0);
  });
  $("journal-scroll").addEventListener("scroll", drawJournal, { passive: true });
  $("exchange-close").addEventListener("click", () => { $("exchange").hidden = true; });
  $("rule-form").addEventListener("submit", (event) => {
    event.preventDefault();
    api("POST", "/faults", ruleFromForm()).then(refresh).catch(showError);
  });
  $("advance-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const seconds = Number(event.target.seconds.value);
    api("POST", "/clock/advance", { seconds }).then(refresh).catch(showError);
  });
  applyFilters().catch(showError);
  refresh();
  setInterval(refresh, 1000);
}

document.addEventListener("DOMContentLoaded", start);
