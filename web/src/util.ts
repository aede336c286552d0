// Small DOM and formatting helpers shared by the pages.

type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

// h('a', {href: '#/', class: 'x', onclick: fn}, 'text', child...)
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K, attrs: Attrs = {}, ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v as EventListener);
    } else if (k === 'value' && 'value' in el) {
      (el as HTMLInputElement).value = String(v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (Array.isArray(c)) append(el, c);
    else if (c !== null && c !== undefined && c !== false) {
      el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export function statusBadge(status: string, reason?: string): HTMLSpanElement {
  return h('span', {
    class: `status status-${status}`,
    'data-testid': 'status-badge',
    'data-status': status,
    title: reason || status,
  }, status.replace('_', ' '));
}

export function fmtTime(ts: number | null | undefined): string {
  if (!ts) return '—';
  const d = new Date(ts * 1000);
  const now = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.toDateString() === now.toDateString()) return time;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

export function fmtDuration(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return '—';
  if (s < 1) return `${(s * 1000).toFixed(0)} ms`;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.floor(s % 60)}s`;
  const hr = Math.floor(m / 60);
  return `${hr}h ${m % 60}m`;
}

export function fmtNum(v: number | null | undefined): string {
  if (v === null || v === undefined) return '—';
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
  return String(Number(v.toPrecision(5)));
}

export function fmtValue(v: unknown): string {
  if (typeof v === 'number') return fmtNum(v);
  if (v === null || v === undefined) return '—';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

export function runLink(id: string, text?: string): HTMLAnchorElement {
  return h('a', { href: `#/runs/${encodeURIComponent(id)}`, class: 'mono' }, text ?? id);
}

// Runs `fn` at most once per `minGapMs`, and never two at a time; calls that arrive meanwhile
// are merged into one more run after the current one. Used to refetch on live updates.
export function refresher(fn: () => Promise<void>, minGapMs: number) {
  let running = false;
  let pending = false;
  let timer: number | undefined;
  let last = 0;
  let stopped = false;
  const run = async () => {
    timer = undefined;
    if (stopped) return;
    if (running) {
      pending = true;
      return;
    }
    running = true;
    pending = false;
    last = Date.now();
    try {
      await fn();
    } catch (e) {
      console.warn(e);
    } finally {
      running = false;
      if (pending && !stopped) schedule();
    }
  };
  const schedule = () => {
    if (stopped || timer !== undefined) return;
    if (running) {
      pending = true;
      return;
    }
    const wait = Math.max(0, last + minGapMs - Date.now());
    timer = window.setTimeout(run, wait);
  };
  return {
    schedule,
    now: () => run(),
    stop: () => {
      stopped = true;
      window.clearTimeout(timer);
    },
  };
}

export function debounce<A extends unknown[]>(fn: (...a: A) => void, ms: number) {
  let t: number | undefined;
  return (...a: A) => {
    window.clearTimeout(t);
    t = window.setTimeout(() => fn(...a), ms);
  };
}

export function errorBox(e: unknown): HTMLElement {
  const msg = e instanceof Error ? e.message : String(e);
  return h('div', { class: 'error', 'data-testid': 'error' }, msg);
}

// Sections of a page: a heading and a body.
export function section(title: string, testid: string, ...children: Child[]) {
  return h('section', { class: 'card', 'data-testid': testid }, h('h2', {}, title), ...children);
}

// A row of "name value" facts that wraps.
export function facts(list: [string, Child][], testid?: string): HTMLElement {
  return h('div', { class: 'facts', 'data-testid': testid },
    list.map(([k, v]) => h('div', { class: 'fact' }, h('span', { class: 'k' }, k), ' ', h('span', { class: 'v' }, v))));
}
