// `#/runs/ID` for a command job or a trial: params, metrics (summary and a chart each), a live
// tail of stdout/stderr (long polling), artifacts and events.
import { api, artifactUrl, subscribe, ApiError, type RunDetail } from '../api';
import { MetricChart } from '../charts/line';
import {
  h, clear, statusBadge, fmtTime, fmtDuration, fmtNum, fmtValue, fmtBytes, runLink,
  refresher, errorBox, section, facts,
} from '../util';

const FINAL = new Set(['completed', 'failed', 'canceled', 'early_terminated', 'timed_out']);
const LOG_KEEP = 256 * 1024; // characters kept in a log pane

export function runHeader(run: RunDetail, extra: HTMLElement[] = []): HTMLElement {
  const list: [string, Node | string][] = [
    ['type', run.type],
    ['experiment', run.experiment],
  ];
  if (run.parent_id) list.push(['sweep', runLink(run.parent_id)]);
  list.push(['created', fmtTime(run.created_at)], ['started', fmtTime(run.started_at)],
    ['ended', fmtTime(run.ended_at)], ['duration', fmtDuration(run.duration_s)]);
  if (run.exit_code !== null && run.exit_code !== undefined) list.push(['exit code', String(run.exit_code)]);
  if (run.compute) list.push(['compute', run.compute]);
  if (run.executor) {
    list.push(['executor', h('span', { class: 'mono', 'data-testid': 'run-executor' }, run.executor.summary)]);
  }
  if (run.environment) {
    const e = run.environment;
    list.push(['environment', h('span', { class: 'mono', 'data-testid': 'run-environment',
      title: e.hash }, `${e.label} (${e.kind}, ${e.hash.slice(0, 12)})`)]);
  }
  return h('div', { class: 'run-header', 'data-testid': 'run-header' },
    h('p', {}, h('a', { href: '#/' }, '← jobs')),
    h('h1', {}, statusBadge(run.status, run.status_reason), ' ', run.display_name || run.id,
      ' ', h('span', { class: 'muted mono', 'data-testid': 'run-id' }, run.id)),
    run.status_reason ? h('p', { class: 'reason', 'data-testid': 'status-reason' }, run.status_reason) : null,
    facts(list),
    run.command ? h('pre', { class: 'command', 'data-testid': 'run-command' }, run.command) : null,
    ...extra);
}

export function cancelButton(run: RunDetail, after: () => void): HTMLElement | null {
  if (FINAL.has(run.status)) return null;
  const btn = h('button', { class: 'danger', 'data-testid': 'cancel' }, 'Cancel');
  btn.addEventListener('click', async () => {
    if (!confirm(`Cancel ${run.type} ${run.id}?`)) return;
    btn.setAttribute('disabled', '');
    try {
      await api.cancel(run.id);
    } catch (e) {
      alert((e as Error).message);
    }
    after();
  });
  return btn;
}

// Messages that are JSON objects (a sweep's summary) read better as `key value` pairs.
function eventMessage(message: string): string {
  if (!message.startsWith('{')) return message;
  try {
    const o = JSON.parse(message) as Record<string, unknown>;
    return Object.entries(o).map(([k, v]) => `${k.replace(/_/g, ' ')} ${fmtValue(v)}`).join(' · ');
  } catch {
    return message;
  }
}

export function eventsList(run: RunDetail): HTMLElement {
  if (!run.events?.length) return h('p', { class: 'muted' }, 'No events.');
  return h('ul', { class: 'events', 'data-testid': 'events' },
    run.events.map((e) => h('li', { class: `event event-${e.kind}` },
      h('span', { class: 'muted' }, fmtTime(e.timestamp)), ' ',
      h('span', { class: 'kind' }, e.kind), ' ', eventMessage(e.message))));
}

// A log pane that follows one stream with long polling until the run's log is final.
function logTail(runId: string, stream: 'stdout' | 'stderr', pre: HTMLElement, info: HTMLElement) {
  let stopped = false;
  const ctrl = new AbortController();
  let offset: number | null = null;
  const appendText = (text: string) => {
    if (!text) return;
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    let all = (pre.textContent ?? '') + text;
    if (all.length > LOG_KEEP) all = all.slice(all.length - LOG_KEEP);
    pre.textContent = all;
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  };
  const loop = async () => {
    let failures = 0;
    while (!stopped) {
      try {
        const chunk = offset === null
          ? await api.logs(runId, { stream, tail: 65536 }, ctrl.signal)
          : await api.logs(runId, { stream, offset, wait: 10 }, ctrl.signal);
        failures = 0;
        appendText(chunk.data);
        offset = chunk.next_offset;
        info.textContent = `${fmtBytes(chunk.size)}${chunk.final ? '' : ' · live'}`;
        pre.dataset.final = String(chunk.final);
        if (chunk.final && chunk.next_offset >= chunk.size) break;
        if (!chunk.data) await new Promise((r) => setTimeout(r, 200));
      } catch (e) {
        if (stopped || (e as Error).name === 'AbortError') return;
        if (e instanceof ApiError && (e.status === 401 || e.status === 404)) {
          info.textContent = e.message;
          return;
        }
        failures++;
        info.textContent = `${(e as Error).message}; retrying`;
        await new Promise((r) => setTimeout(r, Math.min(10000, 1000 * failures)));
      }
    }
  };
  void loop();
  return () => {
    stopped = true;
    ctrl.abort();
  };
}

export function mountRun(root: HTMLElement, initial: RunDetail): () => void {
  const id = initial.id;
  const headerSlot = h('div');
  const paramsBody = h('div');
  const metricsBody = h('div');
  const chartsBody = h('div', { class: 'charts' });
  const artifactsBody = h('div');
  const eventsBody = h('div');
  const err = h('div');
  const stdout = h('pre', { class: 'log', 'data-testid': 'log-tail', 'data-stream': 'stdout' });
  const stderr = h('pre', { class: 'log', 'data-testid': 'log-tail-stderr', 'data-stream': 'stderr' });
  const stdoutInfo = h('span', { class: 'muted' });
  const stderrInfo = h('span', { class: 'muted' });

  root.append(headerSlot, err,
    h('div', { class: 'two-col' },
      section('Params', 'params', paramsBody),
      section('Metrics', 'metrics', metricsBody)),
    section('Charts', 'metric-charts', chartsBody),
    section('Logs', 'logs',
      h('h3', {}, 'stdout ', stdoutInfo), stdout,
      h('h3', {}, 'stderr ', stderrInfo), stderr),
    h('div', { class: 'two-col' },
      section('Artifacts', 'artifacts', artifactsBody),
      section('Events and warnings', 'events-section', eventsBody)));

  const charts = new Map<string, MetricChart>();
  let run = initial;

  function render(r: RunDetail): void {
    clear(headerSlot);
    const cancel = cancelButton(r, () => refresh.schedule());
    headerSlot.append(runHeader(r, cancel ? [cancel] : []));
    clear(paramsBody);
    const params = Object.entries(r.params ?? {});
    paramsBody.append(params.length
      ? h('table', { class: 'kv', 'data-testid': 'params-table' },
        params.map(([k, v]) => h('tr', { 'data-testid': 'param-row', 'data-name': k },
          h('th', {}, k), h('td', { class: 'mono' }, fmtValue(v)))))
      : h('p', { class: 'muted' }, 'No params.'));
    clear(metricsBody);
    const metrics = Object.entries(r.metrics ?? {});
    metricsBody.append(metrics.length
      ? h('table', { class: 'grid', 'data-testid': 'metrics-table' },
        h('thead', {}, h('tr', {}, ['metric', 'last', 'min', 'max', 'count', 'last step']
          .map((c) => h('th', {}, c)))),
        h('tbody', {}, metrics.map(([k, m]) => h('tr', { 'data-testid': 'metric-row', 'data-name': k },
          h('td', {}, k), h('td', { class: 'num' }, fmtNum(m.last)), h('td', { class: 'num' }, fmtNum(m.min)),
          h('td', { class: 'num' }, fmtNum(m.max)), h('td', { class: 'num' }, String(m.count)),
          h('td', { class: 'num' }, String(m.last_step))))))
      : h('p', { class: 'muted' }, 'No metrics yet.'));
    clear(artifactsBody);
    artifactsBody.append(r.artifacts?.length
      ? h('ul', { class: 'artifacts', 'data-testid': 'artifacts-list' },
        r.artifacts.map((a) => h('li', {},
          h('a', { href: artifactUrl(r.id, a.path), download: a.path.split('/').pop() ?? a.path,
            'data-testid': 'artifact-link' }, a.path),
          h('span', { class: 'muted' }, ` ${fmtBytes(a.size)}`))))
      : h('p', { class: 'muted' }, FINAL.has(r.status)
        ? 'No artifacts.' : 'Artifacts (files in ./outputs) appear when the run ends.'));
    clear(eventsBody);
    eventsBody.append(eventsList(r));
  }

  async function refreshCharts(r: RunDetail): Promise<void> {
    const names = Object.keys(r.metrics ?? {}).sort();
    if (names.length === 0) {
      if (!chartsBody.firstChild) chartsBody.append(h('p', { class: 'muted' }, 'No metrics yet.'));
      return;
    }
    const histories = await Promise.all(names.map((n) => api.metric(r.id, n, 1000)));
    names.forEach((name, i) => {
      let chart = charts.get(name);
      if (!chart) {
        if (charts.size === 0) clear(chartsBody);
        const box = h('div', { class: 'chart', 'data-testid': 'metric-chart', 'data-metric': name });
        chartsBody.append(h('div', { class: 'chart-box' },
          h('h3', {}, name, histories[i].downsampled
            ? h('span', { class: 'muted' }, ` (${histories[i].count} points, downsampled)`) : null),
          box));
        chart = new MetricChart(box, name);
        charts.set(name, chart);
      }
      chart.setData(histories[i]);
    });
  }

  const refresh = refresher(async () => {
    try {
      run = await api.run(id);
      clear(err);
      render(run);
      await refreshCharts(run);
    } catch (e) {
      clear(err);
      err.append(errorBox(e));
    }
  }, 1000);

  render(run);
  void refreshCharts(run).catch((e) => err.append(errorBox(e)));
  const stopOut = logTail(id, 'stdout', stdout, stdoutInfo);
  const stopErr = logTail(id, 'stderr', stderr, stderrInfo);
  const unsubscribe = subscribe(id, () => refresh.schedule());

  return () => {
    unsubscribe();
    refresh.stop();
    stopOut();
    stopErr();
    for (const c of charts.values()) c.destroy();
  };
}
