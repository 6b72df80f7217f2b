// The lake console: one script, no framework and no build step. It reads the catalog's HTTP API with
// the token typed in (kept in sessionStorage: this tab only), follows GET /v1/events for live updates
// and renders with DOM calls only (textContent, never innerHTML: quarantined records are raw producer
// input). What a role may not do is not shown; the catalog refuses it anyway.
"use strict";

const TOKEN_KEY = "lake.catalog.token";
const $ = (id) => document.getElementById(id);

/** Makes an element: h("td", { class: "num" }, "12"); children may be strings, nodes, arrays or null. */
function h(tag, props, ...children) {
  const svg = ["svg", "rect", "text", "line", "title", "g"].includes(tag);
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.setAttribute("class", v);
    else if (svg || k.startsWith("data-") || k.startsWith("aria-") || k === "role" || k === "title" || k === "for")
      el.setAttribute(k, v === true ? "" : String(v));
    else el[k] = v;
  }
  const add = (c) => {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) c.forEach(add);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  };
  children.forEach(add);
  return el;
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const state = { token: sessionStorage.getItem(TOKEN_KEY) || "", me: null, route: "", refreshTimer: 0, live: null, newestSeen: new Map() };

async function api(path, init = {}) {
  const headers = { ...(init.body ? { "content-type": "application/json" } : {}), ...(state.token ? { authorization: `Bearer ${state.token}` } : {}) };
  const res = await fetch(path, { ...init, headers });
  const body = await res.json().catch(() => ({}));
  if (!res.ok && !(init.accept || []).includes(res.status)) throw new ApiError(res.status, body.error || "error", body.message || `${res.status}`);
  return body;
}

// ---- formatting ----------------------------------------------------------------------------------

function ago(iso) {
  if (!iso) return "–";
  return duration(Date.now() - Date.parse(iso));
}
function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}
const num = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en"));
const time = (iso) => (iso ? new Date(iso).toLocaleString("en-GB", { hour12: false }) : "–");
const verdict = (q, rules) => h("span", { class: `badge ${q}` }, q === "failed" && rules && rules.length ? `failed: ${rules.join(", ")}` : q);

// ---- sign-in, identity, live updates ----------------------------------------------------------------

async function start() {
  $("sign-in").addEventListener("submit", async (e) => {
    e.preventDefault();
    state.token = $("token").value.trim();
    await signIn();
  });
  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    location.hash = "#/";
    location.reload();
  });
  window.addEventListener("hashchange", () => route());
  await signIn();
}

async function signIn() {
  try {
    state.me = await api("/v1/whoami");
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      $("sign-in").hidden = false;
      $("sign-in-error").textContent = state.token ? e.message : "";
      return;
    }
    return showError(e);
  }
  if (state.token) sessionStorage.setItem(TOKEN_KEY, state.token);
  $("sign-in").hidden = true;
  $("nav").hidden = false;
  $("sign-out").hidden = state.me.auth === "off";
  $("nav-quarantine").hidden = !state.me.quarantine;
  $("who").textContent = state.me.auth === "off" ? "authentication off" : `${state.me.name} (${state.me.role})`;
  follow();
  await route();
}

/**
 * Follows GET /v1/events. EventSource can't send a bearer token, so the stream is read with fetch and
 * parsed here (the same text/event-stream format). A dropped stream is opened again after 2 s, and the
 * view is read again then (anything missed meanwhile is in the API).
 */
async function follow() {
  for (let attempt = 0; ; attempt++) {
    const ctl = new AbortController();
    state.live = ctl;
    try {
      const res = await fetch("/v1/events", { headers: state.token ? { authorization: `Bearer ${state.token}` } : {}, signal: ctl.signal });
      if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
      setLive(true);
      if (attempt > 0) scheduleRefresh();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let end;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          onEvent(buf.slice(0, end));
          buf = buf.slice(end + 2);
        }
      }
    } catch {
      // Dropped or refused: try again below.
    }
    setLive(false);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function setLive(on) {
  $("live").className = `live ${on ? "on" : "off"}`;
  $("live").textContent = on ? "live" : "offline";
}

function onEvent(block) {
  let event = "message";
  let data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data += line.slice(5).trim();
  }
  if (event === "commits" || event === "alert") scheduleRefresh();
}

/** Many records can land in a second: read the view again at most every 300 ms. */
function scheduleRefresh() {
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(() => {
    state.refreshTimer = 0;
    route(true).catch(showError);
  }, 300);
}

function showError(e) {
  $("error").hidden = false;
  $("error").textContent = e instanceof Error ? e.message : String(e);
}

// ---- routing ----------------------------------------------------------------------------------------

async function route(refresh = false) {
  if (!state.me) return;
  const hash = location.hash.replace(/^#\/?/, "");
  const parts = hash.split("/").filter(Boolean).map(decodeURIComponent);
  const key = parts.join("/");
  state.route = key;
  for (const a of document.querySelectorAll("#nav a"))
    a.classList.toggle("active", a.dataset.view === (parts[0] === "d" ? "datasets" : parts[0] || "datasets"));
  try {
    let view;
    if (parts[0] === "d" && parts[1]) view = await datasetView(parts[1], parts[2] === "v" ? Number(parts[3]) : undefined);
    else if (parts[0] === "alerts") view = await alertsView();
    else if (parts[0] === "quarantine") view = await quarantineView(parts[1]);
    else view = await datasetsView();
    // A slower answer for a view the user already left is dropped.
    if (state.route !== key) return;
    $("error").hidden = true;
    $("view").replaceChildren(view);
    if (!window.lakeFirstData) {
      window.lakeFirstData = performance.now();
      performance.mark("lake:first-data");
    }
  } catch (e) {
    showError(e);
  }
}

// ---- datasets ---------------------------------------------------------------------------------------

async function datasetsView() {
  const { datasets } = await api("/v1/datasets");
  const rows = await Promise.all(
    datasets.map(async (d) => {
      const which = d.current_version ? "current" : "latest";
      const [v, tags] = await Promise.all([
        api(`/v1/datasets/${d.name}/versions/${which}?files=reference`).catch(() => null),
        api(`/v1/datasets/${d.name}/tags`).catch(() => ({ tags: [] })),
      ]);
      return { d, v, tags: tags.tags };
    }),
  );
  return h(
    "div",
    null,
    h("h1", null, "Datasets"),
    h(
      "table",
      { id: "datasets" },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          ["dataset", "policy", "current", "latest", "tags", "rows", "newest data", "staleness", "last commit"].map((t, i) =>
            h("th", { class: i >= 5 && i <= 7 ? "num" : null }, t),
          ),
        ),
      ),
      h(
        "tbody",
        null,
        rows.map(({ d, v, tags }) =>
          h(
            "tr",
            { "data-dataset": d.name },
            h("td", null, h("a", { href: `#/d/${d.name}` }, d.name)),
            h("td", null, h("span", { class: `badge ${d.policy}` }, d.policy)),
            h("td", { class: "num" }, d.current_version ? `v${d.current_version}` : "none yet"),
            h("td", { class: "num" }, `v${d.latest_version}`),
            h(
              "td",
              null,
              tags.map((t) => h("span", { class: "badge" }, `${t.tag} → v${t.version}`)),
            ),
            h("td", { class: "num" }, num(v ? v.total_rows : d.total_rows)),
            h(
              "td",
              { class: "num", title: "now minus the newest event time in the version readers are served" },
              v && v.max_event_time ? ago(v.max_event_time) : "–",
            ),
            h(
              "td",
              { class: "num", title: "how long ago the oldest source record the version does not hold was stored (0: it holds everything)" },
              v && v.freshness ? (v.freshness.staleness_ms === null ? "unmeasured" : duration(v.freshness.staleness_ms)) : "–",
            ),
            h("td", { class: "num" }, v ? ago(v.committed_at) + " ago" : "–"),
          ),
        ),
      ),
    ),
    rows.length === 0 ? h("p", { class: "muted" }, "No dataset has a committed version yet.") : null,
  );
}

// ---- one dataset: timeline, chart, diff, lineage, quality -------------------------------------------

async function datasetView(name, selected) {
  const t = await api(`/v1/datasets/${name}/timeline?limit=50`);
  const sel = selected || t.current_version || t.latest_version;
  const [lineage, quality] = await Promise.all([
    api(`/v1/datasets/${name}/versions/${sel}/lineage`).catch((e) => ({ error: e.message })),
    api(`/v1/datasets/${name}/versions/${sel}/quality`, { accept: [404] }).catch(() => null),
  ]);
  const downstream = !t.versions.length || state.me.derived.includes(name) ? null : await downstreamOf(lineage);
  return h(
    "div",
    null,
    h("h1", null, name, " ", h("span", { class: `badge ${t.policy}` }, t.policy)),
    h(
      "div",
      { class: "card stats" },
      h("div", null, "current", h("b", { id: "current-version" }, t.current_version ? `v${t.current_version}` : "none yet")),
      h("div", null, "latest", h("b", { id: "latest-version" }, `v${t.latest_version}`)),
      h("div", null, "rows (latest)", h("b", null, num(t.versions[0] && t.versions[0].total_rows))),
      h("div", null, "newest data", h("b", null, newestData(t.versions))),
      h("div", null, "throughput", h("b", null, throughput(t.versions))),
    ),
    h("div", { class: "card" }, h("h2", null, "Rows added per version"), chart(t.versions)),
    h("div", { class: "row" }, lineageCard(name, lineage, downstream), diffCard(name, t.versions)),
    h("h2", null, "Timeline"),
    timelineTable(name, t, sel),
    qualityCard(sel, quality),
  );
}

/** Age of the newest event time in the newest version that has one (a revert or an empty version has none). */
function newestData(versions) {
  const v = versions.find((x) => x.max_event_time);
  return v ? ago(v.max_event_time) : "–";
}

function throughput(versions) {
  const appends = versions.filter((v) => v.operation === "append");
  if (appends.length < 2) return "–";
  const span = Date.parse(appends[0].committed_at) - Date.parse(appends.at(-1).committed_at);
  const rows = appends.slice(0, -1).reduce((n, v) => n + v.rows_added, 0);
  return span > 0 ? `${num(Math.round((rows / span) * 60000))} rows/min` : "–";
}

/** Rows added per version, oldest left: a plain SVG bar chart (failed versions red). */
function chart(versions) {
  const vs = [...versions].reverse();
  const W = 800;
  const H = 110;
  const TOP = 14;
  const max = Math.max(1, ...vs.map((v) => v.rows_added));
  const bw = W / Math.max(vs.length, 1);
  return h(
    "svg",
    { class: "chart", viewBox: `0 0 ${W} ${TOP + H + 12}`, preserveAspectRatio: "xMinYMin meet", role: "img", "aria-label": "rows added per version" },
    vs.map((v, i) => {
      const bh = Math.max(1, (v.rows_added / max) * H);
      return h(
        "rect",
        { x: i * bw + 1, y: TOP + H - bh, width: Math.max(1, Math.min(40, bw - 2)), height: bh, class: v.quality === "failed" ? "failed" : null },
        h("title", null, `v${v.version}: ${v.rows_added} rows (${v.operation})`),
      );
    }),
    h("text", { x: 0, y: TOP + H + 11 }, vs.length ? `v${vs[0].version}` : ""),
    h("text", { x: Math.max(0, (vs.length - 1) * bw), y: TOP + H + 11 }, vs.length > 1 ? `v${vs.at(-1).version}` : ""),
    h("text", { x: 0, y: 10 }, `max ${num(max)} rows`),
  );
}

function timelineTable(name, t, sel) {
  // Versions and the audit trail's events, newest first, in commit-log order.
  const items = [...t.versions.map((v) => ({ seq: v.commit_seq, v })), ...t.events.map((e) => ({ seq: e.seq, e }))].sort(
    (a, b) => b.seq - a.seq || (a.v ? 1 : -1),
  );
  const canOperate = state.me.role !== "reader";
  const newest = t.versions.length ? t.versions[0].version : 0;
  queueMicrotask(() => state.newestSeen.set(name, Math.max(newest, state.newestSeen.get(name) || 0)));
  return h(
    "table",
    { id: "timeline" },
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        ["version", "committed", "operation", "rows added", "total rows", "files", "verdict", "", ""].map((x, i) =>
          h("th", { class: i >= 3 && i <= 5 ? "num" : null }, x),
        ),
      ),
    ),
    h(
      "tbody",
      null,
      items.map((it) => {
        if (it.e) {
          const e = it.e;
          const what =
            e.kind === "rollback" || e.kind === "promote" || e.kind === "auto_promote"
              ? `${e.kind.replace("_", "-")}: current ${e.previous_version ? `v${e.previous_version}` : "none"} → v${e.version}`
              : e.kind === "tag"
                ? `tag v${e.version}`
                : `${e.kind} v${e.version}`;
          return h(
            "tr",
            { class: "event", "data-event": e.kind },
            h("td", null, ""),
            h("td", null, time(e.at)),
            h("td", { colSpan: 5 }, h("b", null, what), " ", h("span", { class: "muted" }, `by ${e.actor}: ${e.reason}`)),
            h("td", null, ""),
            h("td", null, ""),
          );
        }
        const v = it.v;
        // Versions newer than any this tab has drawn before flash once.
        const fresh = state.newestSeen.has(name) && v.version > state.newestSeen.get(name);
        return h(
          "tr",
          { "data-version": v.version, class: fresh ? "new" : null },
          h("td", null, h("a", { href: `#/d/${name}/v/${v.version}` }, `v${v.version}`), v.version === sel ? " ◂" : ""),
          h("td", null, time(v.committed_at)),
          h(
            "td",
            null,
            v.operation,
            v.reverted_version ? ` of v${v.reverted_version}` : "",
            v.schema_changed ? h("span", { class: "badge" }, `schema v${v.schema_version}`) : null,
          ),
          h("td", { class: "num" }, num(v.rows_added)),
          h("td", { class: "num" }, num(v.total_rows)),
          h("td", { class: "num" }, `+${v.files_added} −${v.files_removed}`),
          h("td", null, verdict(v.quality, v.failed_rules)),
          h(
            "td",
            null,
            v.current ? h("span", { class: "badge current" }, "current") : null,
            v.expired ? h("span", { class: "badge" }, "expired") : null,
            v.tags.map((tg) => h("span", { class: "badge" }, tg)),
          ),
          h(
            "td",
            null,
            canOperate && !v.current && !v.expired && v.quality !== "failed" && t.current_version && v.version < t.current_version
              ? rollbackButton(name, v.version)
              : null,
          ),
        );
      }),
    ),
  );
}

function rollbackButton(name, version) {
  return h(
    "button",
    {
      type: "button",
      onclick: async (e) => {
        const reason = prompt(`Roll ${name} back to v${version}? Reason (goes into the audit trail):`, "rolled back from the console");
        if (!reason) return;
        e.target.disabled = true;
        try {
          await api(`/v1/datasets/${name}/rollback`, { method: "POST", body: JSON.stringify({ to_version: version, reason, actor: "console" }) });
          await route(true);
        } catch (err) {
          showError(err);
          e.target.disabled = false;
        }
      },
    },
    `Roll back to v${version}`,
  );
}

/** For a dataset fed by a source: the derived datasets reflecting its selected version's newest offset. */
async function downstreamOf(lineage) {
  if (!lineage || lineage.error || !lineage.source || lineage.source.last_offset < 1) return null;
  const q = new URLSearchParams({ source_offset: String(lineage.source.last_offset), stream: lineage.source.stream, subject: lineage.source.subject });
  const r = await api(`/v1/lineage?${q}`).catch(() => null);
  return r ? r.datasets.filter((m) => m.relation === "upstream") : null;
}

function lineageCard(name, l, downstream) {
  if (l.error) return h("div", { class: "card" }, h("h2", null, "Lineage"), h("p", { class: "error" }, l.error));
  const source = h(
    "div",
    { class: "node" },
    l.source.stream,
    h("small", null, l.source.subject),
    h("small", null, l.source.first_offset <= l.source.last_offset ? `offsets ${l.source.first_offset}–${l.source.last_offset}` : "no new source data"),
  );
  const upstream = l.upstream.map((u) =>
    h(
      "div",
      { class: "node", "data-upstream": u.dataset },
      u.version ? h("a", { href: `#/d/${u.dataset}/v/${u.version}` }, `${u.dataset} v${u.version}`) : u.dataset,
      h("small", null, `through ${u.stream} seq ${u.through_seq}`),
      h("small", null, u.status),
    ),
  );
  const self = h(
    "div",
    { class: "node self", id: "lineage-self" },
    h("b", null, `${name} v${l.version}`),
    h("small", null, `${l.operation}${l.reverted_version ? ` of v${l.reverted_version}` : ""}, ${num(l.files.rows)} rows in ${num(l.files.count)} files`),
    h("small", null, `partitions ${l.files.partitions.slice(0, 3).join(", ")}${l.files.partitions.length > 3 ? ", …" : ""}`),
    l.watermark ? h("small", null, `watermark ${time(l.watermark)}`) : null,
  );
  const down = (downstream || []).map((m) =>
    h(
      "div",
      { class: "node", "data-downstream": m.dataset },
      m.version ? h("a", { href: `#/d/${m.dataset}/v/${m.version.version}` }, `${m.dataset} v${m.version.version}`) : `${m.dataset} (not yet)`,
      h("small", null, "first version reflecting it"),
    ),
  );
  return h(
    "div",
    { class: "card", id: "lineage" },
    h("h2", null, `Lineage of v${l.version}`),
    h(
      "div",
      { class: "graph" },
      h("div", { class: "col" }, upstream.length ? upstream : source),
      h("span", { class: "arrow" }, "→"),
      self,
      down.length ? [h("span", { class: "arrow" }, "→"), h("div", { class: "col" }, down)] : null,
    ),
    upstream.length ? h("p", { class: "muted" }, "Window results from ", source) : null,
  );
}

function qualityCard(version, q) {
  if (!q || q.error)
    return h("div", { class: "card", id: "quality" }, h("h2", null, `Quality of v${version}`), h("p", { class: "muted" }, "No verdict (yet)."));
  return h(
    "div",
    { class: "card", id: "quality" },
    h("h2", null, `Quality of v${version} `, verdict(q.outcome)),
    h(
      "table",
      null,
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          ["rule", "result", "measured", "expected"].map((x) => h("th", null, x)),
        ),
      ),
      h(
        "tbody",
        null,
        [...q.rules]
          .sort((a, b) => Number(a.passed) - Number(b.passed))
          .map((r) =>
            h(
              "tr",
              { "data-rule": r.rule },
              h("td", null, r.rule),
              h("td", null, h("span", { class: `badge ${r.passed ? "passed" : "failed"}` }, r.passed ? "passed" : "failed")),
              h("td", null, r.measured === undefined ? "" : String(r.measured)),
              h("td", null, r.expected === undefined ? "" : String(r.expected)),
            ),
          ),
      ),
    ),
    h("p", { class: "muted" }, `checked ${time(q.checked_at)} by ${q.checker_id}`),
  );
}

/**
 * The diff card's choice and answer per dataset: a live update redraws the dataset view, and a person
 * comparing two versions must not lose the versions they picked or the answer they asked for.
 */
const diffs = new Map();

function diffCard(name, versions) {
  const kept = diffs.get(name) || {};
  const options = () => versions.map((v) => h("option", { value: v.version }, `v${v.version}`));
  const listed = (v) => v !== undefined && versions.some((x) => String(x.version) === v);
  const remember = () => diffs.set(name, { ...diffs.get(name), from: from.value, to: to.value });
  const from = h("select", { id: "diff-from", "aria-label": "from version", onchange: remember }, options());
  const to = h("select", { id: "diff-to", "aria-label": "to version", onchange: remember }, options());
  if (listed(kept.from)) from.value = kept.from;
  else if (versions.length > 1) from.value = String(versions[1].version);
  if (listed(kept.to)) to.value = kept.to;
  const out = h("div", { id: "diff" });
  const show = (into, d) => {
    if (d.error) return into.replaceChildren(h("p", { class: "error" }, d.error));
    const files = (list, sign) => list.map((f) => h("li", null, `${sign} ${f.key} (${num(f.rows)} rows)`));
    into.replaceChildren(
      h(
        "p",
        null,
        `v${d.from.version} → v${d.to.version}: rows ${num(d.from.total_rows)} → ${num(d.to.total_rows)} (${d.rows_delta >= 0 ? "+" : ""}${num(d.rows_delta)}); `,
        `files +${d.added_count} −${d.removed_count}, ${d.unchanged_files} unchanged; `,
        d.schema_changed ? h("b", null, `schema changed: v${d.from.schema.version} → v${d.to.schema.version}`) : `schema unchanged (v${d.to.schema.version})`,
      ),
      h("ul", null, files(d.added, "+"), files(d.removed, "−")),
      d.added_count + d.removed_count > d.added.length + d.removed.length ? h("p", { class: "muted" }, "(first 200 of each listed)") : null,
    );
  };
  if (kept.answer) show(out, kept.answer);
  const run = async () => {
    const pick = { from: from.value, to: to.value };
    let answer;
    try {
      answer = await api(`/v1/datasets/${name}/diff?from=${pick.from}&to=${pick.to}`);
    } catch (e) {
      answer = { error: e.message };
    }
    diffs.set(name, { ...pick, answer });
    // A live update may have redrawn the card meanwhile: the answer goes to the one on the page.
    const target = out.isConnected ? out : document.getElementById("diff");
    if (target) show(target, answer);
  };
  return h("div", { class: "card" }, h("h2", null, "Diff"), from, " → ", to, " ", h("button", { type: "button", onclick: run }, "Compare"), out);
}

// ---- alerts -----------------------------------------------------------------------------------------

async function alertsView() {
  const a = await api("/v1/alerts").catch((e) => ({ error: e.message, alerts: [], firing: [] }));
  const rows = (list) =>
    list.map((x) =>
      h(
        "tr",
        { "data-alert": x.alert },
        h("td", null, time(x.at)),
        h("td", null, h("span", { class: `badge ${x.state === "firing" ? "firing" : "passed"}` }, x.state)),
        h("td", null, x.alert),
        h("td", null, x.subject),
        h("td", null, x.service),
        h("td", null, x.message),
      ),
    );
  const table = (list, id) =>
    h(
      "table",
      { id },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          ["at", "state", "alert", "about", "service", "message"].map((x) => h("th", null, x)),
        ),
      ),
      h("tbody", null, rows(list)),
    );
  return h(
    "div",
    null,
    h("h1", null, "Alerts"),
    a.error ? h("p", { class: "error" }, a.error) : null,
    h("h2", null, `Firing now (${a.firing.length})`),
    a.firing.length ? table(a.firing, "firing") : h("p", { class: "muted" }, "Nothing is firing."),
    h("h2", null, "Recent transitions"),
    a.alerts.length ? table(a.alerts, "alerts") : h("p", { class: "muted" }, "No alert has fired recently."),
  );
}

// ---- quarantine (operators) ---------------------------------------------------------------------------

async function quarantineView(domain) {
  if (!state.me.quarantine) return h("p", { class: "muted" }, "The quarantine is for operators.");
  const d = domain || state.me.domains[0];
  const picker = h(
    "select",
    { id: "domain", "aria-label": "domain", onchange: (e) => (location.hash = `#/quarantine/${e.target.value}`) },
    state.me.domains.map((x) => h("option", { value: x, selected: x === d }, x)),
  );
  // The newest 100: page to the end (bounded), keep the last page's worth.
  let records = [];
  for (let after = 0, pages = 0; pages < 50; pages++) {
    const page = await api(`/v1/domains/${d}/quarantine?after=${after}&limit=500`);
    records = records.concat(page.records).slice(-100);
    if (page.next_after === null) break;
    after = page.next_after;
  }
  records.reverse();
  return h(
    "div",
    null,
    h("h1", null, "Quarantine ", picker),
    h(
      "p",
      { class: "muted" },
      "Records ingest refused, or whose batch failed its audit, with the reason. A replay sends a record through ingest's validation again.",
    ),
    records.length === 0
      ? h("p", { class: "muted" }, "Nothing in quarantine.")
      : h(
          "table",
          { id: "quarantine" },
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              ["seq", "received", "source", "event id", "reason", "record", ""].map((x) => h("th", null, x)),
            ),
          ),
          h(
            "tbody",
            null,
            records.map((r) => quarantineRow(d, r)),
          ),
        ),
  );
}

function quarantineRow(domain, r) {
  if (r.status !== "quarantined")
    return h(
      "tr",
      { "data-seq": r.seq },
      h("td", null, r.seq),
      h("td", null, time(r.stored_at)),
      h("td", null, "–"),
      h("td", null, "–"),
      h("td", null, `undecodable: ${r.error}`),
      h("td", null, `${r.bytes} bytes`),
      h("td", null),
    );
  const result = h("span", { class: "replay-result" }, r.replayed ? `replayed: offset ${r.replayed.offset}` : "");
  const editor = h("textarea", { rows: 4, hidden: true, "aria-label": `corrected record ${r.seq}` });
  editor.value = r.raw;
  const send = async (button, record) => {
    button.disabled = true;
    try {
      const reply = await api(`/v1/domains/${domain}/quarantine/replay`, {
        method: "POST",
        body: JSON.stringify({ items: [record === undefined ? { seq: r.seq } : { seq: r.seq, record }] }),
        accept: [422, 503],
      });
      const it = (reply.results || reply.items || [])[0] || reply;
      result.textContent = `${it.status}${it.offset ? `: offset ${it.offset}` : ""}${it.reason ? `: ${it.reason}` : ""}`;
    } catch (e) {
      result.textContent = e.message;
    }
    button.disabled = false;
  };
  const replay = h("button", { type: "button", onclick: (e) => send(e.target, undefined) }, "Replay");
  const edit = h(
    "button",
    {
      type: "button",
      onclick: (e) => {
        if (editor.hidden) {
          editor.hidden = false;
          e.target.textContent = "Replay corrected";
          return;
        }
        let record;
        try {
          record = JSON.parse(editor.value);
        } catch (err) {
          result.textContent = `not JSON: ${err.message}`;
          return;
        }
        send(e.target, record);
      },
    },
    "Edit…",
  );
  return h(
    "tr",
    { "data-seq": r.seq },
    h("td", null, r.seq),
    h("td", null, time(r.received_at)),
    h("td", null, r.source),
    h("td", null, r.event_id || "–"),
    h("td", null, r.reason, r.path ? h("small", { class: "muted" }, ` at ${r.path}`) : null),
    h("td", null, h("pre", null, r.raw), editor),
    h("td", null, replay, " ", edit, " ", result),
  );
}

start().catch(showError);
