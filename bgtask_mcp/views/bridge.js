// The view side of MCP Apps (JSON-RPC 2.0 over postMessage with the host), plus what both views share:
// building DOM from data (text only: nothing from DMS is ever parsed as HTML), times, statuses, params trees.
// VOCABULARY (statuses, task names) is inlined before this script by bgtask_mcp.views.render.
'use strict';

const Bridge = (() => {
  const PROTOCOL = '2026-01-26';
  const pending = new Map();
  const handlers = new Map();
  let nextId = 1;
  let host = { capabilities: {}, context: {} };

  function post(message) {
    window.parent.postMessage({ jsonrpc: '2.0', ...message }, '*');
  }

  window.addEventListener('message', (event) => {
    if (event.source !== window.parent) return; // only the host speaks to a view
    const message = event.data;
    if (!message || message.jsonrpc !== '2.0') return;
    if (message.id !== undefined && !message.method) {
      const waiter = pending.get(message.id);
      if (!waiter) return;
      pending.delete(message.id);
      if (message.error) waiter.reject(new Error(message.error.message || 'the host refused'));
      else waiter.resolve(message.result);
      return;
    }
    if (message.id !== undefined) { // a request from the host: teardown and ping need only an answer
      post({ id: message.id, result: {} });
      return;
    }
    const handler = handlers.get(message.method);
    if (handler) handler(message.params || {});
  });

  function request(method, params) {
    const id = nextId++;
    post({ id, method, params });
    return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
  }

  function applyContext(context) {
    host.context = { ...host.context, ...context };
    const root = document.documentElement;
    if (context.theme === 'light' || context.theme === 'dark') root.style.colorScheme = context.theme;
    const variables = (context.styles && context.styles.variables) || {};
    for (const [name, value] of Object.entries(variables)) {
      if (name.startsWith('--') && typeof value === 'string') root.style.setProperty(name, value);
    }
  }

  function reportSize() {
    let queued = false;
    const send = () => {
      queued = false;
      const box = document.documentElement.getBoundingClientRect();
      post({ method: 'ui/notifications/size-changed', params: { width: Math.ceil(box.width), height: Math.ceil(box.height) } });
    };
    new ResizeObserver(() => {
      if (!queued) { queued = true; requestAnimationFrame(send); }
    }).observe(document.documentElement);
  }

  return {
    on(method, handler) { handlers.set(method, handler); },
    async connect(name) {
      handlers.set('ui/notifications/host-context-changed', applyContext);
      const result = await request('ui/initialize', {
        appInfo: { name, version: VOCABULARY.version },
        appCapabilities: { availableDisplayModes: ['inline'] },
        protocolVersion: PROTOCOL,
      });
      host = { capabilities: (result && result.hostCapabilities) || {}, context: {} };
      applyContext((result && result.hostContext) || {});
      post({ method: 'ui/notifications/initialized', params: {} });
      reportSize();
      return host;
    },
    canCallTools() { return Boolean(host.capabilities.serverTools); },
    callTool(name, args) { return request('tools/call', { name, arguments: args }); },
    context() { return host.context; },
  };
})();

// -- DOM from data ------------------------------------------------------------------------------------------

function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'style') Object.assign(node.style, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function resultText(result) {
  const blocks = (result && result.content) || [];
  return blocks.filter((b) => b.type === 'text').map((b) => b.text).join('\n');
}

function notice(kind, text) {
  return h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

// -- time ---------------------------------------------------------------------------------------------------

function timeZone() {
  return Bridge.context().timeZone || Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

function formatTime(millis, withDate = true) {
  if (!Number.isFinite(millis)) return '—';
  const options = { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZone: timeZone() };
  if (withDate) Object.assign(options, { year: 'numeric', month: 'short', day: 'numeric' });
  return new Intl.DateTimeFormat(Bridge.context().locale || 'en-GB', options).format(new Date(millis));
}

function formatTick(millis, span) { // axis labels: as short as the span allows
  const options = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: timeZone() };
  if (span < 3600 * 1000) options.second = '2-digit';
  if (span > 20 * 3600 * 1000) Object.assign(options, { month: 'short', day: 'numeric' });
  return new Intl.DateTimeFormat(Bridge.context().locale || 'en-GB', options).format(new Date(millis));
}

function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${Math.round(seconds * 10) / 10} s`;
  const units = [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]];
  const parts = [];
  let rest = Math.round(seconds);
  for (const [unit, size] of units) { // the largest unit and the one after it: 2d 3h, 12h 0m, 4m 5s
    if ((parts.length || rest >= size) && parts.length < 2) { parts.push(`${Math.floor(rest / size)}${unit}`); rest %= size; }
  }
  return parts.join(' ');
}

// -- statuses and tasks -------------------------------------------------------------------------------------

function statusInfo(name) {
  const known = VOCABULARY.statuses[name];
  if (!known) return { name, meaning: VOCABULARY.unknown_status, terminal: false, succeeded: false, kind: 'unknown' };
  const kind = known.succeeded ? 'success' : !known.terminal ? 'running' : name.toLowerCase();
  return { name, meaning: known.meaning, terminal: known.terminal, succeeded: known.succeeded, kind };
}

function taskTimes(task, now) {
  const info = statusInfo(task.status);
  const scheduled = task.schedule_at ? Date.parse(task.schedule_at) : NaN;
  if (Number.isFinite(scheduled) && (task.status === 'CANCELLED' || (!info.terminal && scheduled > now))) {
    // planned (right of now) or cancelled before it ran: a mark at its schedule, no duration
    return { start: scheduled, end: scheduled, running: false, planned: scheduled > now, seconds: 0 };
  }
  const start = Number.isFinite(scheduled) ? scheduled : Date.parse(task.created_at);
  const updated = Date.parse(task.updated_at);
  const end = info.terminal ? updated : Math.max(now, Number.isFinite(updated) ? updated : now);
  return { start, end, running: !info.terminal, planned: false, seconds: (end - start) / 1000 };
}

function badge(status) {
  const info = statusInfo(status);
  return h('span', { class: `badge s-${info.kind}`, title: info.meaning }, status || 'UNKNOWN');
}

// -- params -------------------------------------------------------------------------------------------------

const MASK = VOCABULARY.mask;

function paramsTree(value, depth = 0) {
  if (value === null || typeof value !== 'object') return scalar(value);
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
  if (!entries.length) return h('span', { class: 'p-empty' }, Array.isArray(value) ? '[ ]' : '{ }');
  const list = h('ul', { class: 'p-tree' }, entries.map(([key, item]) => h('li', {},
    h('span', { class: Array.isArray(value) ? 'p-index' : 'p-key' }, key),
    item !== null && typeof item === 'object'
      ? h('details', { open: depth < 2 }, h('summary', {}, Array.isArray(item) ? `[${item.length}]` : `{${Object.keys(item).length}}`),
        paramsTree(item, depth + 1))
      : scalar(item))));
  return list;
}

function scalar(value) {
  if (value === MASK) return h('span', { class: 'p-masked', title: 'masked by bgtask-mcp: a secret never leaves the server' }, MASK);
  if (typeof value === 'string') return h('span', { class: 'p-string' }, value);
  if (value === null || value === undefined) return h('span', { class: 'p-null' }, 'null');
  return h('span', { class: `p-${typeof value}` }, String(value));
}
