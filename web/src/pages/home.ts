// `#/`: experiments with their counts, and the jobs table (paginated, live through SSE).
import { api, subscribe, type Experiment, type JobsPage } from '../api';
import {
  h, clear, statusBadge, fmtTime, fmtDuration, runLink, refresher, errorBox, section,
} from '../util';

const PAGE = 50;
const STATUSES = ['queued', 'starting', 'running', 'completed', 'failed', 'canceled',
  'early_terminated', 'timed_out'];

export function mountHome(root: HTMLElement): () => void {
  let experiment = new URLSearchParams(location.hash.split('?')[1] ?? '').get('experiment') ?? '';
  let status = '';
  let offset = 0;

  const expBody = h('div', { 'data-testid': 'experiments' });
  const jobsBody = h('tbody');
  const pager = h('div', { class: 'pager' });
  const err = h('div');
  const statusSel = h('select', { 'data-testid': 'jobs-status-filter' },
    h('option', { value: '' }, 'any status'),
    STATUSES.map((s) => h('option', { value: s }, s.replace('_', ' '))));
  statusSel.addEventListener('change', () => {
    status = statusSel.value;
    offset = 0;
    r.now();
  });
  const expLabel = h('span', { class: 'muted' });

  root.append(
    err,
    section('Experiments', 'experiments-section', expBody),
    section('Jobs', 'jobs-section',
      h('div', { class: 'toolbar' }, expLabel, statusSel),
      h('table', { class: 'grid', 'data-testid': 'jobs-table' },
        h('thead', {}, h('tr', {},
          ['id', 'name', 'type', 'status', 'experiment', 'created', 'duration']
            .map((c) => h('th', {}, c)))),
        jobsBody),
      pager),
  );

  function renderExperiments(list: Experiment[]): void {
    clear(expBody);
    if (list.length === 0) {
      expBody.append(h('p', { class: 'muted' },
        'No experiments yet. Submit a job: overdrive job submit job.yml'));
      return;
    }
    const chips = list.map((e) => h('button', {
      class: `chip${e.name === experiment ? ' active' : ''}`,
      'data-testid': 'experiment',
      'data-name': e.name,
      onclick: () => {
        experiment = experiment === e.name ? '' : e.name;
        offset = 0;
        r.now();
      },
    }, h('strong', {}, e.name), ` ${e.runs} job${e.runs === 1 ? '' : 's'}`,
      e.active ? h('span', { class: 'active-count' }, ` · ${e.active} active`) : null));
    expBody.append(h('div', { class: 'chips' }, chips));
  }

  function renderJobs(page: JobsPage): void {
    clear(jobsBody);
    expLabel.textContent = experiment ? `experiment ${experiment} ` : '';
    if (page.jobs.length === 0) {
      jobsBody.append(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No jobs.')));
    }
    for (const j of page.jobs) {
      jobsBody.append(h('tr', { 'data-testid': 'job-row', 'data-id': j.id, 'data-status': j.status },
        h('td', {}, runLink(j.id)),
        h('td', {}, j.display_name),
        h('td', {}, j.type),
        h('td', {}, statusBadge(j.status, j.status_reason)),
        h('td', {}, j.experiment),
        h('td', {}, fmtTime(j.created_at)),
        h('td', { class: 'num' }, fmtDuration(j.duration_s))));
    }
    clear(pager);
    const last = Math.min(page.total, page.offset + page.jobs.length);
    pager.append(
      h('button', {
        disabled: offset === 0, 'data-testid': 'jobs-prev',
        onclick: () => { offset = Math.max(0, offset - PAGE); r.now(); },
      }, '‹ newer'),
      h('span', { 'data-testid': 'jobs-range' },
        page.total ? ` ${page.offset + 1}–${last} of ${page.total} ` : ' 0 jobs '),
      h('button', {
        disabled: last >= page.total, 'data-testid': 'jobs-next',
        onclick: () => { offset += PAGE; r.now(); },
      }, 'older ›'));
  }

  const r = refresher(async () => {
    try {
      const [exps, jobs] = await Promise.all([
        api.experiments(),
        api.jobs({ experiment, status, limit: PAGE, offset }),
      ]);
      clear(err);
      renderExperiments(exps.experiments);
      renderJobs(jobs);
    } catch (e) {
      clear(err);
      err.append(errorBox(e));
    }
  }, 500);
  void r.now();
  const unsubscribe = subscribe(null, () => r.schedule());
  // Durations of running jobs grow without events; refresh them now and then.
  const tick = window.setInterval(() => r.schedule(), 30000);

  return () => {
    unsubscribe();
    r.stop();
    window.clearInterval(tick);
  };
}
