// The console's pages. Each matches a hash path and renders into a fresh element from the admin API.
import { ApiError, api, errorBox, formatBytes, formatCount, formatDuration, h } from "./app.js";
import { ThroughputChart, shortBytes, shortNumber } from "./charts.js";

const STATS_POLL_MS = 1000;

const enc = encodeURIComponent;
const topicLink = (name) => h("a", { href: `#/topics/${enc(name)}` }, name);
const groupLink = (id) => h("a", { href: `#/groups/${enc(id)}` }, id);

function card(label, value, { small = false, id } = {}) {
  return h("div", { className: "card" }, h("div", { className: "label" }, label), h("div", { className: small ? "value small" : "value", id }, value));
}

/** A table from column specs {title, cell(row), num?}; an empty list shows a single explanatory row. */
function table(columns, rows, emptyText, rowClass) {
  const head = h("thead", {}, h("tr", {}, columns.map((c) => h("th", { className: c.num ? "num" : null }, c.title))));
  const body = h(
    "tbody",
    {},
    rows.length === 0
      ? h("tr", {}, h("td", { className: "empty", colspan: columns.length }, emptyText))
      : rows.map((row) => h("tr", { className: rowClass?.(row) ?? null }, columns.map((c) => h("td", { className: c.num ? "num" : null }, c.cell(row))))),
  );
  return h("table", {}, head, body);
}

function panel(title, right, ...content) {
  return h("section", { className: "panel" }, h("div", { className: "panel-head" }, h("h2", {}, title), right ?? ""), ...content);
}

function stateBadge(state) {
  const tone = { Stable: "good", Empty: "", PreparingRebalance: "warn", CompletingRebalance: "warn", Dead: "bad" }[state] ?? "";
  return h("span", { className: `badge ${tone}` }, state);
}

async function overview() {
  const [cluster, topics, groups] = await Promise.all([api("/cluster"), api("/topics"), api("/groups")]);
  const totalMessages = topics.topics.reduce((n, t) => n + t.messageCount, 0);
  const totalBytes = topics.topics.reduce((n, t) => n + t.sizeBytes, 0);
  const canvas = h("canvas", { id: "throughput", "aria-label": "throughput chart" });
  const chart = new ThroughputChart(canvas);
  const rateText = h("span", { className: "muted", id: "rate-now" }, "measuring…");
  const content = h(
    "div",
    {},
    h("h1", {}, "Cluster overview"),
    h("p", { className: "subtitle" }, "Cluster ", h("span", { className: "mono" }, cluster.clusterId), ` · controller node ${cluster.controllerId}`),
    h(
      "div",
      { className: "cards" },
      card("Brokers", cluster.brokers.length),
      card("Topics", cluster.topicCount, { id: "topic-count" }),
      card("Partitions", cluster.partitionCount),
      card("Messages", formatCount(totalMessages)),
      card("Log size", formatBytes(totalBytes)),
      card("Consumer groups", groups.groups.length),
      card("Uptime", formatDuration(cluster.node.uptimeMs)),
      card("Flush mode", cluster.node.flushMode),
    ),
    panel(
      "Throughput (appended to logs)",
      h("div", { className: "legend" }, h("span", { style: "--swatch:#2f6fde" }, "records/s"), h("span", { style: "--swatch:#1f8a4c" }, "bytes/s"), rateText),
      h("div", { className: "chart-wrap" }, canvas),
    ),
    panel(
      "Brokers",
      null,
      table(
        [
          { title: "Node", cell: (b) => h("span", {}, String(b.nodeId), b.nodeId === cluster.node.nodeId ? h("span", { className: "badge", style: "margin-left:8px" }, "this node") : "") },
          { title: "Host", cell: (b) => h("span", { className: "mono" }, `${b.host}:${b.port}`) },
          { title: "Rack", cell: (b) => b.rack ?? h("span", { className: "null" }, "none") },
          { title: "Status", cell: (b) => (b.fenced ? h("span", { className: "badge bad" }, "fenced") : h("span", { className: "badge good" }, "active")) },
          { title: "Role", cell: (b) => (b.nodeId === cluster.controllerId ? "controller" : "broker") },
        ],
        cluster.brokers,
        "No brokers registered.",
      ),
    ),
    panel(
      "Storage flushing",
      null,
      h(
        "div",
        { className: "cards" },
        card("fsyncs", formatCount(cluster.flush.fsyncCount)),
        card("Flush rounds", formatCount(cluster.flush.flushRounds)),
        card("Appends / round", cluster.flush.appendsPerRound.toFixed(2)),
        card("Flushed", formatBytes(cluster.flush.bytesFlushed)),
        card("Last round", `${cluster.flush.lastFlushMs.toFixed(1)} ms`),
      ),
    ),
  );
  let stopped = false;
  const poll = async () => {
    try {
      chart.push(await api("/stats"));
      const now = chart.latest();
      rateText.textContent = `now: ${shortNumber(now.messages)} records/s · ${shortBytes(now.bytes)}/s`;
    } catch (error) {
      rateText.textContent = `stats unavailable: ${error.message}`;
    }
  };
  void poll();
  const timer = setInterval(() => {
    if (!stopped) void poll();
  }, STATS_POLL_MS);
  const redraw = () => chart.draw();
  window.addEventListener("resize", redraw);
  return {
    content,
    cleanup() {
      stopped = true;
      clearInterval(timer);
      window.removeEventListener("resize", redraw);
    },
  };
}

function createTopicForm() {
  const name = h("input", { type: "text", name: "name", placeholder: "orders", required: true, pattern: "[a-zA-Z0-9._\\-]+" });
  const partitions = h("input", { type: "number", name: "partitions", min: 1, value: 1 });
  const status = h("div");
  const form = h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        status.replaceChildren();
        try {
          await api("/topics", { method: "POST", body: JSON.stringify({ name: name.value, partitions: Number(partitions.value) }) });
          location.hash = `#/topics/${enc(name.value)}`;
        } catch (error) {
          status.replaceChildren(errorBox(error));
        }
      },
    },
    status,
    h(
      "div",
      { className: "form-row" },
      h("label", { className: "field" }, "Name", name),
      h("label", { className: "field" }, "Partitions", partitions),
      h("button", { type: "submit" }, "Create topic"),
    ),
  );
  return form;
}

async function topicsPage() {
  const { topics } = await api("/topics");
  return {
    content: h(
      "div",
      {},
      h("h1", {}, "Topics"),
      h("p", { className: "subtitle" }, `${topics.length} topic${topics.length === 1 ? "" : "s"}`),
      panel(
        "All topics",
        null,
        table(
          [
            { title: "Name", cell: (t) => topicLink(t.name) },
            { title: "Partitions", num: true, cell: (t) => t.partitions },
            { title: "Replication", num: true, cell: (t) => t.replicationFactor },
            { title: "Messages", num: true, cell: (t) => formatCount(t.messageCount) },
            { title: "Size", num: true, cell: (t) => formatBytes(t.sizeBytes) },
            { title: "Topic id", cell: (t) => h("span", { className: "mono muted" }, t.topicId) },
          ],
          topics,
          "No topics yet. Produce to one or create it below.",
        ),
      ),
      panel("Create a topic", null, createTopicForm()),
    ),
  };
}

async function topicPage(name) {
  const topic = await api(`/topics/${enc(name)}`);
  const remove = h(
    "button",
    {
      className: "secondary",
      onclick: async () => {
        if (!window.confirm(`Delete topic ${name} and all its data?`)) return;
        try {
          await api(`/topics/${enc(name)}`, { method: "DELETE" });
          location.hash = "#/topics";
        } catch (error) {
          remove.replaceWith(errorBox(error));
        }
      },
    },
    "Delete topic",
  );
  return {
    content: h(
      "div",
      {},
      h("div", { className: "crumbs" }, h("a", { href: "#/topics" }, "Topics"), " / ", name),
      h("h1", {}, name),
      h("p", { className: "subtitle mono" }, topic.topicId),
      h(
        "div",
        { className: "cards" },
        card("Partitions", topic.partitions),
        card("Replication factor", topic.replicationFactor),
        card("Messages", formatCount(topic.messageCount)),
        card("Size", formatBytes(topic.sizeBytes)),
      ),
      panel(
        "Partitions",
        remove,
        table(
          [
            { title: "#", cell: (p) => p.partition },
            { title: "Leader", num: true, cell: (p) => p.leader },
            { title: "Replicas", cell: (p) => p.replicas.join(", ") },
            { title: "ISR", cell: (p) => p.isr.join(", ") },
            { title: "Log start", num: true, cell: (p) => formatCount(p.logStartOffset) },
            { title: "High watermark", num: true, cell: (p) => formatCount(p.highWatermark) },
            { title: "Log end", num: true, cell: (p) => formatCount(p.logEndOffset) },
            { title: "Size", num: true, cell: (p) => formatBytes(p.sizeBytes) },
            { title: "Segments", num: true, cell: (p) => p.segmentCount ?? "–" },
            { title: "", cell: (p) => h("a", { href: `#/topics/${enc(name)}/partitions/${p.partition}` }, "Browse messages") },
          ],
          topic.partitionDetails,
          "No partitions.",
        ),
      ),
      panel(
        "Configuration",
        h("span", { className: "muted" }, "highlighted rows override the broker default"),
        table(
          [
            { title: "Name", cell: (c) => h("span", { className: "mono" }, c.name) },
            { title: "Value", cell: (c) => h("span", { className: "mono" }, c.value) },
            { title: "Source", cell: (c) => h("span", { className: "muted" }, c.source) },
          ],
          topic.configs,
          "No configs.",
          (c) => (c.source === "DYNAMIC_TOPIC_CONFIG" ? "config-override" : null),
        ),
      ),
    ),
  };
}

function bytesCell(view, mode) {
  if (view === null) return h("span", { className: "null" }, "null");
  let shown;
  if (mode === "hex") shown = view.hex.replace(/(..)/g, "$1 ").trim();
  else shown = view.text ?? `base64: ${view.base64}`;
  const note = view.truncated ? h("div", { className: "muted" }, `first ${formatBytes(view.hex.length / 2)} of ${formatBytes(view.sizeBytes)}`) : null;
  return h("div", { className: "message-value" }, shown === "" ? h("span", { className: "null" }, "empty") : shown, note);
}

async function messagesPage(topicName, partition, query) {
  const limit = Number(query.get("limit") ?? 50);
  const offsetParam = query.get("offset");
  const mode = query.get("view") === "hex" ? "hex" : "text";
  const params = new URLSearchParams({ limit: String(limit) });
  if (offsetParam !== null) params.set("offset", offsetParam);
  const base = `#/topics/${enc(topicName)}/partitions/${partition}`;
  const go = (changes) => {
    const next = new URLSearchParams({ offset: offsetParam ?? "", limit: String(limit), view: mode, ...changes });
    if (next.get("offset") === "") next.delete("offset");
    location.hash = `${base}?${next}`;
  };
  let page;
  let problem = null;
  try {
    page = await api(`/topics/${enc(topicName)}/partitions/${partition}/messages?${params}`);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 400) throw error;
    problem = error;
    page = await api(`/topics/${enc(topicName)}/partitions/${partition}/messages?limit=${limit}`);
  }
  const offsetInput = h("input", { type: "number", name: "offset", min: page.logStartOffset, max: page.highWatermark, value: page.offset });
  const limitSelect = h("select", { name: "limit" }, [10, 50, 100, 500].map((n) => h("option", { value: n, selected: n === limit }, n)));
  const toolbar = h(
    "form",
    {
      className: "toolbar",
      onsubmit: (event) => {
        event.preventDefault();
        go({ offset: offsetInput.value, limit: limitSelect.value });
      },
    },
    h("label", { className: "field" }, `From offset (${formatCount(page.logStartOffset)}–${formatCount(page.highWatermark)})`, offsetInput),
    h("label", { className: "field" }, "Messages", limitSelect),
    h("button", { type: "submit" }, "Load"),
    h("button", { type: "button", className: "secondary", disabled: page.offset <= page.logStartOffset, onclick: () => go({ offset: String(Math.max(page.logStartOffset, page.offset - limit)) }) }, "← Previous"),
    h("button", { type: "button", className: "secondary", disabled: page.nextOffset >= page.highWatermark, onclick: () => go({ offset: String(page.nextOffset) }) }, "Next →"),
    h("button", { type: "button", className: "secondary", onclick: () => go({ offset: String(Math.max(page.logStartOffset, page.highWatermark - limit)) }) }, "Latest"),
    h(
      "div",
      { className: "segmented", role: "group", "aria-label": "value format" },
      h("button", { type: "button", className: mode === "text" ? "on" : "", onclick: () => go({ view: "text" }) }, "Text"),
      h("button", { type: "button", className: mode === "hex" ? "on" : "", onclick: () => go({ view: "hex" }) }, "Hex"),
    ),
  );
  const rows = page.messages;
  return {
    content: h(
      "div",
      {},
      h("div", { className: "crumbs" }, h("a", { href: "#/topics" }, "Topics"), " / ", topicLink(topicName), ` / partition ${partition}`),
      h("h1", {}, `${topicName} · partition ${partition}`),
      h("p", { className: "subtitle" }, `Offsets ${formatCount(page.offset)} to ${formatCount(Math.max(page.offset, page.nextOffset - 1))} of ${formatCount(page.logStartOffset)}–${formatCount(page.highWatermark)}`),
      problem ? errorBox(problem) : null,
      panel(
        "Messages",
        null,
        toolbar,
        table(
          [
            { title: "Offset", num: true, cell: (m) => (m.kind === "batch" ? `${m.offset}–${m.lastOffset}` : m.offset) },
            { title: "Timestamp", cell: (m) => h("span", { className: "mono" }, new Date(m.timestampMs).toISOString().replace("T", " ").replace("Z", "")) },
            { title: "Key", cell: (m) => (m.kind === "batch" ? "" : bytesCell(m.key, mode)) },
            { title: "Value", cell: (m) => (m.kind === "batch" ? h("span", { className: "muted" }, m.note) : bytesCell(m.value, mode)) },
            {
              title: "Headers",
              cell: (m) =>
                m.kind === "batch" || m.headers.length === 0
                  ? ""
                  : h("div", { className: "headers" }, m.headers.map((hd) => h("div", {}, `${hd.key}: `, hd.value === null ? "null" : mode === "hex" ? hd.value.hex : (hd.value.text ?? hd.value.base64)))),
            },
          ],
          rows,
          "No messages at this offset.",
        ),
      ),
    ),
  };
}

async function groupsPage() {
  const { groups } = await api("/groups");
  return {
    content: h(
      "div",
      {},
      h("h1", {}, "Consumer groups"),
      h("p", { className: "subtitle" }, `${groups.length} group${groups.length === 1 ? "" : "s"}`),
      panel(
        "All groups",
        null,
        table(
          [
            { title: "Group", cell: (g) => groupLink(g.groupId) },
            { title: "State", cell: (g) => stateBadge(g.state) },
            { title: "Protocol", cell: (g) => g.protocolType || h("span", { className: "null" }, "none") },
            { title: "Members", num: true, cell: (g) => g.members },
            { title: "Total lag", num: true, cell: (g) => formatCount(g.totalLag) },
          ],
          groups,
          "No consumer groups yet.",
        ),
      ),
    ),
  };
}

async function groupPage(groupId) {
  const group = await api(`/groups/${enc(groupId)}`);
  return {
    content: h(
      "div",
      {},
      h("div", { className: "crumbs" }, h("a", { href: "#/groups" }, "Consumer groups"), " / ", groupId),
      h("h1", {}, groupId, " ", stateBadge(group.state)),
      h("p", { className: "subtitle" }, `${group.protocolType || "no protocol type"}${group.protocol ? ` · assignor ${group.protocol}` : ""}`),
      h("div", { className: "cards" }, card("Members", group.members.length), card("Committed partitions", group.offsets.length), card("Total lag", formatCount(group.totalLag))),
      panel(
        "Members",
        null,
        table(
          [
            { title: "Member", cell: (m) => h("span", { className: "mono" }, m.memberId) },
            { title: "Client", cell: (m) => m.clientId },
            { title: "Host", cell: (m) => h("span", { className: "mono" }, m.clientHost) },
            {
              title: "Assignment",
              cell: (m) => (m.assignment === null ? h("span", { className: "null" }, "none") : m.assignment.map((a) => `${a.topic} [${a.partitions.join(", ")}]`).join("; ")),
            },
          ],
          group.members,
          "No active members.",
        ),
      ),
      panel(
        "Committed offsets and lag",
        null,
        table(
          [
            { title: "Topic", cell: (o) => topicLink(o.topic) },
            { title: "Partition", num: true, cell: (o) => o.partition },
            { title: "Committed", num: true, cell: (o) => formatCount(o.committedOffset) },
            { title: "High watermark", num: true, cell: (o) => formatCount(o.highWatermark) },
            { title: "Lag", num: true, cell: (o) => (o.lag === null ? "–" : h("span", { className: o.lag > 0 ? "badge warn" : "badge good" }, formatCount(o.lag))) },
          ],
          group.offsets,
          "No committed offsets.",
        ),
      ),
    ),
  };
}

/** The routes: `nav` names the top-bar link to highlight. */
export const VIEWS = [
  { nav: "overview", match: (p) => p.length === 0, render: () => overview() },
  { nav: "topics", match: (p) => p.length === 1 && p[0] === "topics", render: () => topicsPage() },
  { nav: "topics", match: (p) => p.length === 2 && p[0] === "topics", render: (p) => topicPage(p[1]) },
  { nav: "topics", match: (p) => p.length === 4 && p[0] === "topics" && p[2] === "partitions", render: (p, q) => messagesPage(p[1], p[3], q) },
  { nav: "groups", match: (p) => p.length === 1 && p[0] === "groups", render: () => groupsPage() },
  { nav: "groups", match: (p) => p.length === 2 && p[0] === "groups", render: (p) => groupPage(p[1]) },
];
