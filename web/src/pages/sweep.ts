// `#/runs/ID` for a sweep: its header (objective, sampling, policy, counts, best trial), the
// trials table (sorted, filtered and paginated on the server), the progress chart, a few trials'
// curves and the parallel-coordinates plot. Live through SSE; charts are canvases, so 10,000
// trials cost no more DOM than one page of the table.
import { api, subscribe, type RunDetail, type RunsPage, type TrialPoints } from '../api';
import { ParallelCoordinates } from '../charts/pc';
import { CurvesChart, ProgressChart } from '../charts/line';
import { cancelButton, eventsList, runHeader } from './run';
import {
  h, clear, statusBadge, fmtDuration, fmtNum, fmtValue, fmtTime, runLink, refresher, debounce,
  errorBox, section, facts,
} from '../util';

const PAGE = 50;
const STATUSES = ['queued', 'starting', 'running', 'completed', 'failed', 'canceled',
  'early_terminated', 'timed_out'];
const CURVES = 6; // trials drawn on the curves chart

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'none';
  if (typeof v !== 'object') return String(v);
  const o = v as Record<string, unknown>;
  const parts: string[] = [];
  if ('type' in o) parts.push(String(o.type));
  for (const [k, x] of Object.entries(o)) if (k !== 'type') parts.push(`${k}=${fmtValue(x)}`);
  return parts.join(', ');
}

export function mountSweep(root: HTMLElement, initial: RunDetail): () => void {
  const id = initial.id;
  let run = initial;
  const goal = initial.objective?.goal ?? 'maximize';
  const metric = initial.objective?.primary_metric ?? '';
  let sort = 'metric';
  let order: 'asc' | 'desc' = goal === 'minimize' ? 'asc' : 'desc';
  let q = '';
  let status = '';
  let offset = 0;
  let page: RunsPage | null = null;
  let points: TrialPoints | null = null;

  const headerSlot = h('div');
  const summary = h('div', { class: 'sweep-summary', 'data-testid': 'sweep-summary' });
  const err = h('div');
  const filter = h('input', {
    type: 'search', placeholder: 'filter: id, status or param value', 'data-testid': 'trials-filter',
    size: 32,
  });
  const statusSel = h('select', { 'data-testid': 'trials-status-filter' },
    h('option', { value: '' }, 'any status'),
    STATUSES.map((s) => h('option', { value: s }, s.replace('_', ' '))));
  const thead = h('thead');
  const tbody = h('tbody');
  const pager = h('div', { class: 'pager' });
  const progressBox = h('div', { class: 'chart', 'data-testid': 'progress-chart' });
  const curvesBox = h('div', { class: 'chart', 'data-testid': 'curves-chart' });
  const pcBox = h('div', { class: 'pc-box' });
  const eventsBody = h('div');

  root.append(headerSlot, err, summary,
    h('div', { class: 'two-col' },
      section(`${metric}: each trial's best, and the best so far`, 'progress-section', progressBox),
      section(`${metric} per interval: the best and running trials`, 'curves-section', curvesBox)),
    section('Parallel coordinates', 'pc-section',
      h('p', { class: 'muted' }, `One line per trial, coloured by ${metric} (yellow is better); `,
        h('span', { class: 'best-swatch' }, 'red'), ' is the best trial. Click a line to open it.'),
      pcBox),
    section('Trials', 'trials-section',
      h('div', { class: 'toolbar' }, filter, statusSel),
      h('div', { class: 'table-wrap' },
        h('table', { class: 'grid trials', 'data-testid': 'trials-table' }, thead, tbody)),
      pager),
    section('Events and warnings', 'events-section', eventsBody));

  const pc = new ParallelCoordinates(pcBox, (tid) => { location.hash = `#/runs/${tid}`; });
  const progress = new ProgressChart(progressBox, metric, goal);
  const curves = new CurvesChart(curvesBox);

  function renderHeader(r: RunDetail): void {
    clear(headerSlot);
    const cancel = cancelButton(r, () => detail.schedule());
    headerSlot.append(runHeader(r, cancel ? [cancel] : []));
    clear(summary);
    const counts = r.trial_counts ?? {};
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const bestId = r.best_trial ?? null;
    const bestPoint = bestId && points ? points.trials.find((t) => t.id === bestId) : undefined;
    const list: [string, Node | string][] = [
      ['objective', `${goal} ${metric}`],
      ['sampling', describe(r.sampling)],
      ['early termination', describe(r.early_termination)],
      ['trials', h('span', { 'data-testid': 'trial-total' },
        `${total}${r.max_total_trials ? ` of ${r.max_total_trials}` : ''}`)],
      ['by status', h('span', { 'data-testid': 'trial-counts' },
        Object.entries(counts).filter(([, n]) => n > 0)
          .map(([s, n]) => h('span', { class: 'count' }, statusBadge(s), ` ${n} `)))],
      ['best trial', bestId
        ? h('span', { 'data-testid': 'best-trial', 'data-id': bestId }, runLink(bestId),
          bestPoint ? ` ${metric} = ${fmtNum(bestPoint.best)}`
            : r.best_value !== undefined && r.best_value !== null ? ` ${metric} = ${fmtNum(r.best_value)}` : '')
        : h('span', { 'data-testid': 'best-trial', class: 'muted' }, 'none yet')],
    ];
    if (r.trial_seconds !== undefined) list.push(['trial time', fmtDuration(r.trial_seconds)]);
    if (r.saved_trial_seconds) {
      list.push(['saved by early termination', fmtDuration(r.saved_trial_seconds)]);
    }
    summary.append(facts(list));
    clear(eventsBody);
    eventsBody.append(eventsList(r));
  }

  function sortHeader(label: string, key: string | null): HTMLElement {
    if (!key) return h('th', {}, label);
    const active = sort === key;
    return h('th', {
      class: `sortable${active ? ' sorted' : ''}`, 'data-testid': `sort-${key}`,
      'data-sort': active ? order : '', title: `sort by ${label}`,
      onclick: () => {
        if (sort === key) order = order === 'asc' ? 'desc' : 'asc';
        else {
          sort = key;
          order = key === 'metric' ? (goal === 'minimize' ? 'asc' : 'desc')
            : key === 'created_at' || key === 'duration' ? 'desc' : 'asc';
        }
        offset = 0;
        table.now();
      },
    }, label, active ? (order === 'asc' ? ' ▲' : ' ▼') : '');
  }

  function renderTable(p: RunsPage): void {
    const params = p.param_names ?? [];
    clear(thead);
    thead.append(h('tr', {},
      sortHeader('trial', 'created_at'), sortHeader('status', 'status'),
      sortHeader(`${metric} best`, 'metric'), h('th', {}, 'last'), h('th', {}, 'intervals'),
      sortHeader('duration', 'duration'),
      params.map((n) => sortHeader(n, `param:${n}`))));
    clear(tbody);
    const best = p.best_trial ?? run.best_trial ?? null;
    if (p.runs.length === 0) {
      tbody.append(h('tr', {}, h('td', { colspan: 6 + params.length, class: 'muted' },
        q || status ? 'No trials match.' : 'No trials yet.')));
    }
    for (const t of p.runs) {
      const isBest = t.id === best;
      tbody.append(h('tr', {
        'data-testid': 'trial-row', 'data-id': t.id, 'data-status': t.status,
        'data-best': isBest ? 'true' : null, class: isBest ? 'best' : null,
      },
      h('td', {}, t.index ? h('span', { class: 'muted' }, `#${t.index} `) : null, runLink(t.id), isBest ? h('span', { class: 'best-mark', title: 'best trial' }, ' ★') : null,
        h('div', { class: 'muted small' }, fmtTime(t.created_at))),
      h('td', {}, statusBadge(t.status, t.status_reason)),
      h('td', { class: 'num metric-best', 'data-value': t.metric?.best ?? '' }, fmtNum(t.metric?.best)),
      h('td', { class: 'num' }, fmtNum(t.metric?.last)),
      h('td', { class: 'num' }, t.metric ? String(t.metric.count) : '0'),
      h('td', { class: 'num' }, fmtDuration(t.duration_s)),
      params.map((n) => h('td', { class: 'mono' }, fmtValue(t.params?.[n])))));
    }
    clear(pager);
    const pages = Math.max(1, Math.ceil(p.total / PAGE));
    const current = Math.floor(p.offset / PAGE) + 1;
    pager.append(
      h('button', { disabled: offset === 0, 'data-testid': 'trials-prev',
        onclick: () => { offset = Math.max(0, offset - PAGE); table.now(); } }, '‹ prev'),
      h('span', { 'data-testid': 'trials-range' },
        ` page ${current} of ${pages} · ${p.total} trial${p.total === 1 ? '' : 's'} `),
      h('button', { disabled: p.offset + PAGE >= p.total, 'data-testid': 'trials-next',
        onclick: () => { offset += PAGE; table.now(); } }, 'next ›'));
  }

  const table = refresher(async () => {
    try {
      const sortKey = sort;
      const sortOrder = order;
      const res = await api.runs({ parent: id, sort: sortKey, order: sortOrder, q, status,
        limit: PAGE, offset });
      page = res;
      clear(err);
      renderTable(res);
      tbody.parentElement!.dataset.sort = `${sortKey}:${sortOrder}`;
    } catch (e) {
      clear(err);
      err.append(errorBox(e));
    }
  }, 300);

  const detail = refresher(async () => {
    try {
      run = await api.run(id);
      renderHeader(run);
    } catch (e) {
      clear(err);
      err.append(errorBox(e));
    }
  }, 1000);

  // Points and curves: the heaviest calls, at most every 2 s.
  let curveIds = '';
  const charts = refresher(async () => {
    try {
      const pts = await api.trialPoints(id, metric || undefined);
      points = pts;
      const bestId = pts.best_trial ?? run.best_trial ?? page?.best_trial ?? null;
      const t0 = performance.now();
      pc.setData(pts, bestId);
      progress.setData(pts.trials.map((t) => (t.best === undefined ? null : t.best)));
      pcBox.dataset.renderMs = (performance.now() - t0).toFixed(1);
      renderHeader(run);
      // The curves: the best few trials and those running now.
      const better = (a: number, b: number) => (goal === 'minimize' ? a - b : b - a);
      const ranked = pts.trials.filter((t) => t.best !== null && t.count > 0)
        .sort((a, b) => better(a.best as number, b.best as number));
      const running = pts.trials.filter((t) => t.status === 'running' && t.count > 0);
      const chosen = [...ranked.slice(0, CURVES - Math.min(2, running.length)), ...running]
        .filter((t, i, all) => all.findIndex((x) => x.id === t.id) === i).slice(0, CURVES);
      const key = chosen.map((t) => `${t.id}:${t.count}`).join(',');
      if (key !== curveIds && metric) {
        curveIds = key;
        const hists = await Promise.all(chosen.map((t) => api.metric(t.id, metric, 300)));
        curves.setData(chosen.map((t, i) => ({
          label: `${t.id}${t.id === bestId ? ' ★' : ''}${t.status === 'running' ? ' (running)' : ''}`,
          hist: hists[i],
        })));
      }
    } catch (e) {
      clear(err);
      err.append(errorBox(e));
    }
  }, 2000);

  filter.addEventListener('input', debounce(() => {
    q = filter.value.trim();
    offset = 0;
    table.now();
  }, 300));
  statusSel.addEventListener('change', () => {
    status = statusSel.value;
    offset = 0;
    table.now();
  });

  renderHeader(run);
  // Subscribe once the first page and charts are in: the stream's first event asks for a
  // refetch, which would otherwise compete with them for the server.
  let unsubscribe = () => {};
  let closed = false;
  void Promise.all([table.now(), charts.now()]).then(() => {
    if (closed) return;
    unsubscribe = subscribe(id, () => {
      detail.schedule();
      table.schedule();
      charts.schedule();
    });
  });

  return () => {
    closed = true;
    unsubscribe();
    table.stop();
    detail.stop();
    charts.stop();
    pc.destroy();
    progress.destroy();
    curves.destroy();
  };
}
