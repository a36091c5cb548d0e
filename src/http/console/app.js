// The console's shell: a hash router, the JSON fetch helper and a small DOM builder.
// Pages live in views.js; a page may return a cleanup function (timers) that runs when it is left.
import { VIEWS } from "./views.js";

/** Builds an element; attributes starting with "on" become listeners, children may be strings or nodes. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "className") el.className = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export class ApiError extends Error {
  constructor(status, error, message) {
    super(message);
    this.status = status;
    this.error = error;
  }
}

/** Calls the admin API; a non-2xx answer becomes an ApiError carrying the broker's {error, message}. */
export async function api(path, options = {}) {
  const response = await fetch(`/api${path}`, {
    ...options,
    headers: options.body ? { "content-type": "application/json" } : undefined,
  });
  if (response.status === 204) return null;
  const body = await response.json().catch(() => ({ error: "BAD_RESPONSE", message: `HTTP ${response.status}` }));
  if (!response.ok) throw new ApiError(response.status, body.error, body.message);
  return body;
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

export function formatCount(n) {
  if (n === null || n === undefined) return "–";
  return n.toLocaleString("en-US");
}

export function formatDuration(ms) {
  const seconds = Math.floor(ms / 1000);
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${minutes}m`;
  if (minutes > 0) return `${minutes}m ${seconds % 60}s`;
  return `${seconds}s`;
}

export function errorBox(error) {
  const text = error instanceof ApiError ? `${error.error}: ${error.message}` : String(error?.message ?? error);
  return h("div", { className: "error-box", role: "alert" }, text);
}

const view = document.getElementById("view");
let leave = null;
let navigation = 0;

/** "#/topics/a%2Fb/partitions/0?offset=3" → { parts: ["topics", "a/b", "partitions", "0"], query } */
function parseHash() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = hash.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(search) };
}

async function render() {
  const current = ++navigation;
  if (leave) leave();
  leave = null;
  const { parts, query } = parseHash();
  const page = VIEWS.find((v) => v.match(parts));
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", page !== undefined && link.dataset.nav === page.nav);
  }
  if (!page) {
    view.replaceChildren(errorBox(new Error(`No page at ${location.hash}`)));
    return;
  }
  try {
    const { content, cleanup } = await page.render(parts, query);
    if (current !== navigation) {
      cleanup?.();
      return;
    }
    view.replaceChildren(content);
    leave = cleanup ?? null;
  } catch (error) {
    if (current !== navigation) return;
    view.replaceChildren(errorBox(error));
  }
}

async function showNode() {
  try {
    const cluster = await api("/cluster");
    document.getElementById("node-label").textContent = `node ${cluster.node.nodeId} · cluster ${cluster.clusterId}`;
  } catch {
    document.getElementById("node-label").textContent = "broker unreachable";
  }
}

window.addEventListener("hashchange", render);
void showNode();
void render();
