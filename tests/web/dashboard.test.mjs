// End-to-end tests of the web dashboard: the real `overdrive server` on a temporary workspace,
// a real sweep submitted with the real CLI, and Debian's Chromium driven by playwright-core.
//   OVERDRIVE_BIN=build/debug/bin/overdrive node --test tests/web/
// Environment: OVERDRIVE_BIN (the binary), CHROMIUM (default /usr/bin/chromium),
// WEB_SCREENSHOTS (default build/web-screenshots), WEB_BIG_SWEEP_TRIALS (default 2000; the
// bench runs 10000), WEB_BIG_SWEEP_BUDGET_MS (how fast the big sweep's page must render),
// WEB_ONLY_BIG=1 (only the big sweep, for bench/run_dashboard_bench.sh).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const bin = path.resolve(repo, process.env.OVERDRIVE_BIN ?? 'build/debug/bin/overdrive');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const shots = path.resolve(repo, process.env.WEB_SCREENSHOTS ?? 'build/web-screenshots');
const bigTrials = Number(process.env.WEB_BIG_SWEEP_TRIALS ?? 2000);
const bigBudgetMs = Number(process.env.WEB_BIG_SWEEP_BUDGET_MS ?? 8000);
const onlyBig = process.env.WEB_ONLY_BIG === '1';
const FINAL = ['completed', 'failed', 'canceled', 'early_terminated', 'timed_out'];

const require = createRequire(path.join(repo, 'web', 'package.json'));
const { chromium } = require('playwright-core');

fs.mkdirSync(shots, { recursive: true });

// ---------------------------------------------------------------------------------------------
// Helpers: processes, the server, the API.

const cleanups = [];
let browser;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function tempWorkspace(name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `overdrive-web-${name}-`));
  if (!process.env.KEEP_WEB_TEST_WORKSPACE) {
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return dir;
}

// Runs the CLI to completion; returns stdout, throws with stderr on a non-zero exit.
function overdrive(workspace, args, opts = {}) {
  const res = spawnSync(bin, ['--workspace', path.join(workspace, 'ws'), ...args], {
    encoding: 'utf8', cwd: opts.cwd ?? workspace, timeout: opts.timeout ?? 240_000,
    env: { ...process.env, OVERDRIVE_WORKSPACE: path.join(workspace, 'ws') },
    maxBuffer: 256 * 1024 * 1024,
  });
  if (res.status !== 0) {
    throw new Error(`overdrive ${args.join(' ')} exited ${res.status ?? res.signal}:\n${res.stderr}`);
  }
  return res.stdout;
}

async function startServer(workspace) {
  const port = await freePort();
  const logPath = path.join(workspace, 'server.log');
  const log = fs.openSync(logPath, 'w');
  const proc = spawn(bin, ['--workspace', path.join(workspace, 'ws'), 'server', '--port', String(port)], {
    cwd: workspace, stdio: ['ignore', log, log],
    env: { ...process.env, OVERDRIVE_WORKSPACE: path.join(workspace, 'ws') },
  });
  let exited = null;
  proc.on('exit', (code, signal) => { exited = code ?? signal; });
  cleanups.push(async () => {
    if (exited === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => { proc.once('exit', r); setTimeout(r, 5000); });
      if (exited === null) proc.kill('SIGKILL');
    }
    fs.closeSync(log);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== null) {
      throw new Error(`overdrive server exited (${exited}) before answering:\n${fs.readFileSync(logPath, 'utf8')}`);
    }
    try {
      const res = await fetch(`${url}/api/v1/health`);
      if (res.ok || res.status === 401) break; // 401: listening, and it wants a token
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      throw new Error(`overdrive server did not answer /api/v1/health in 60 s:\n${fs.readFileSync(logPath, 'utf8')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const index = await fetch(`${url}/`);
  const html = await index.text();
  assert.ok(html.includes('<div id="app">') || html.includes('id="app"'),
    `the server does not serve the dashboard at / (run scripts/web.sh build):\n${html.slice(0, 400)}`);
  return { url, proc, logPath };
}

async function getJson(url) {
  const res = await fetch(url);
  assert.equal(res.status, 200, `GET ${url}: ${res.status} ${await res.clone().text()}`);
  return res.json();
}

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.setDefaultTimeout(30_000);
  return { page, errors, close: () => context.close() };
}

// Pixels of a canvas that are coloured (not white, grey or black): drawn data, not axes.
async function colouredPixels(page, selector) {
  return page.$eval(selector, (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      const hi = Math.max(d[i], d[i + 1], d[i + 2]);
      const lo = Math.min(d[i], d[i + 1], d[i + 2]);
      if (d[i + 3] > 0 && hi - lo > 60) n++;
    }
    return n;
  });
}

// The trials table as the user sees it: [{id, status, best, best_text, params: {name: text}}].
async function trialRows(page) {
  return page.$$eval('[data-testid=trials-table] tbody tr[data-testid=trial-row]', (rows) => {
    const heads = [...document.querySelectorAll('[data-testid=trials-table] thead th')]
      .map((th) => th.textContent.replace(/[▲▼]/g, '').trim());
    return rows.map((tr) => {
      const cells = [...tr.children].map((td) => td.textContent.trim());
      const params = {};
      heads.slice(6).forEach((name, i) => { params[name] = cells[6 + i]; });
      const best = tr.querySelector('.metric-best').dataset.value;
      return { id: tr.dataset.id, status: tr.dataset.status, best: best === '' ? null : Number(best),
        bestRow: tr.dataset.best === 'true', params };
    });
  });
}

function isSorted(values, order) {
  for (let i = 1; i < values.length; i++) {
    if (order === 'asc' ? values[i] < values[i - 1] : values[i] > values[i - 1]) return false;
  }
  return true;
}

before(async () => {
  assert.ok(fs.existsSync(bin), `no overdrive binary at ${bin} (set OVERDRIVE_BIN)`);
  assert.ok(fs.existsSync(path.join(repo, 'web', 'dist', 'index.html')),
    'web/dist is not built: run scripts/web.sh build');
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  for (const fn of cleanups.reverse()) {
    try {
      await fn();
    } catch (e) {
      console.error(e);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// A live sweep: 6 trials of a script that prints `acc=` every 0.8 s, two at a time.

const TRAIN_PY = `import sys, time
x = float(sys.argv[1]); layers = int(sys.argv[2]); opt = sys.argv[3]
for epoch in range(1, 7):
    acc = (1 - (x - 0.6) ** 2) * (1 - 0.5 ** epoch) + 0.02 * layers + (0.01 if opt == "adam" else 0)
    print(f"epoch {epoch} acc={acc:.5f} loss={1 - acc:.5f}", flush=True)
    time.sleep(0.8)
print("trial finished", file=sys.stderr, flush=True)
`;

const SWEEP_YML = `type: sweep
experiment_name: web-e2e
display_name: web-e2e-sweep
trial:
  code: src
  command: /usr/bin/python3 train.py \${{search_space.x}} \${{search_space.layers}} \${{search_space.opt}}
  environment: {conda_file: conda.yml}
sampling_algorithm: {type: random, seed: 3}
search_space:
  x: {type: uniform, min_value: 0, max_value: 1}
  layers: {type: choice, values: [1, 2, 3]}
  opt: {type: choice, values: [adam, sgd]}
objective: {goal: maximize, primary_metric: acc}
limits: {max_total_trials: 6, max_concurrent_trials: 2, timeout: 600}
`;

test('the dashboard follows a live sweep: jobs, trials table, charts, run page', { skip: onlyBig }, async (t) => {
  const dir = tempWorkspace('live');
  fs.mkdirSync(path.join(dir, 'src'));
  fs.writeFileSync(path.join(dir, 'src', 'train.py'), TRAIN_PY);
  fs.writeFileSync(path.join(dir, 'conda.yml'), 'dependencies: [pip]\n');
  fs.writeFileSync(path.join(dir, 'sweep.yml'), SWEEP_YML);
  const server = await startServer(dir);
  const { page, errors, close } = await newPage();
  cleanups.push(close);
  let sweepId = null;
  cleanups.push(() => {
    if (!sweepId) return;
    spawnSync(bin, ['--workspace', path.join(dir, 'ws'), 'job', 'cancel', sweepId], { timeout: 30_000 });
  });

  await t.test('the jobs list shows a submitted sweep without a reload', async () => {
    await page.goto(`${server.url}/#/`);
    await page.waitForSelector('[data-testid=jobs-table]');
    await page.waitForSelector('[data-testid=jobs-range]');
    assert.equal(await page.locator('[data-testid=job-row]').count(), 0);
    await page.evaluate(() => { window.__noReload = true; });
    sweepId = overdrive(dir, ['job', 'submit', 'sweep.yml', '--detach']).trim().split('\n').pop();
    assert.match(sweepId, /^\w+$/);
    const row = page.locator(`[data-testid=job-row][data-id="${sweepId}"]`);
    await row.waitFor({ timeout: 15_000 });
    assert.match(await row.innerText(), /web-e2e-sweep/);
    assert.match(await row.innerText(), /sweep/);
    assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was reloaded');
    await page.locator('[data-testid=experiment][data-name="web-e2e"]').waitFor();
    await page.screenshot({ path: path.join(shots, 'jobs.png'), fullPage: true });
  });

  await t.test('the sweep page updates its trials while the sweep runs', async () => {
    await page.locator(`[data-testid=job-row][data-id="${sweepId}"] a`).first().click();
    await page.waitForSelector('[data-testid=trials-table]');
    await page.waitForSelector('[data-testid=trial-row]', { timeout: 30_000 });
    await page.evaluate(() => { window.__noReload = true; });
    const first = await trialRows(page);
    const firstKey = JSON.stringify(first.map((r) => [r.id, r.status, r.best]));
    assert.ok(first.length < 6 || first.some((r) => !FINAL.includes(r.status)),
      `the sweep had already finished when its page opened: ${firstKey}`);
    // Without a reload, the table changes: a trial's status or best value, or more rows.
    await page.waitForFunction((key) => {
      const rows = [...document.querySelectorAll('[data-testid=trial-row]')];
      const now = JSON.stringify(rows.map((tr) => [tr.dataset.id, tr.dataset.status,
        tr.querySelector('.metric-best').dataset.value === '' ? null
          : Number(tr.querySelector('.metric-best').dataset.value)]));
      return now !== key;
    }, firstKey, { timeout: 60_000 });
    // ...and it reaches the end: 6 trials, all ended, the sweep completed.
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('[data-testid=trial-row]')];
      const header = document.querySelector('[data-testid=run-header] [data-testid=status-badge]');
      return rows.length === 6 && rows.every((r) => r.dataset.status === 'completed') &&
        header?.dataset.status === 'completed';
    }, null, { timeout: 180_000 });
    assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was reloaded');
    const counts = await page.locator('[data-testid=trial-total]').innerText();
    assert.match(counts, /^6\b/);
  });

  let bestId;
  await t.test('the best trial is highlighted and sorting by the metric reorders the table', async () => {
    const sweep = await getJson(`${server.url}/api/v1/runs/${sweepId}`);
    bestId = sweep.best_trial;
    assert.ok(bestId, 'the finished sweep has a best trial');
    await page.locator(`[data-testid=best-trial][data-id="${bestId}"]`).waitFor();
    let rows = await trialRows(page);
    // Default: best first.
    assert.equal(rows[0].id, bestId);
    assert.equal(rows.filter((r) => r.bestRow).map((r) => r.id).join(), bestId);
    assert.ok(isSorted(rows.map((r) => r.best), 'desc'), JSON.stringify(rows));
    const desc = rows.map((r) => r.id);

    await page.click('[data-testid=sort-metric]');
    await page.waitForSelector('[data-testid=trials-table][data-sort="metric:asc"]');
    rows = await trialRows(page);
    assert.ok(isSorted(rows.map((r) => r.best), 'asc'), JSON.stringify(rows));
    assert.deepEqual(rows.map((r) => r.id), [...desc].reverse());
    assert.equal(rows[rows.length - 1].id, bestId);

    await page.click('[data-testid="sort-param:x"]');
    await page.waitForSelector('[data-testid=trials-table][data-sort="param:x:asc"]');
    rows = await trialRows(page);
    assert.ok(isSorted(rows.map((r) => Number(r.params.x)), 'asc'), JSON.stringify(rows));

    await page.fill('[data-testid=trials-filter]', 'sgd');
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=trial-row]')]
      .every((tr) => tr.textContent.includes('sgd')));
    const sgd = (await getJson(`${server.url}/api/v1/runs?parent=${sweepId}&q=sgd`)).total;
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid=trial-row]').length === n, sgd);
    await page.fill('[data-testid=trials-filter]', '');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=trial-row]').length === 6);
    await page.click('[data-testid=sort-metric]');
    await page.waitForSelector('[data-testid=trials-table][data-sort^="metric:"]');
  });

  await t.test('the parallel coordinates and the metric charts are drawn', async () => {
    await page.waitForSelector('[data-testid=pc-plot][data-trials="6"]');
    const pcInk = await colouredPixels(page, '[data-testid=pc-plot]');
    assert.ok(pcInk > 500, `parallel coordinates: ${pcInk} coloured pixels`);
    const progressInk = await colouredPixels(page, '[data-testid=progress-chart] canvas');
    assert.ok(progressInk > 100, `progress chart: ${progressInk} coloured pixels`);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=curves-chart] .u-series').length > 2);
    const curvesInk = await colouredPixels(page, '[data-testid=curves-chart] canvas');
    assert.ok(curvesInk > 100, `curves chart: ${curvesInk} coloured pixels`);
    await page.screenshot({ path: path.join(shots, 'sweep.png'), fullPage: true });
  });

  await t.test('a trial page shows params, metric charts, its stdout and its artifacts', async () => {
    const trial = await getJson(`${server.url}/api/v1/runs/${bestId}`);
    await page.click(`[data-testid=best-trial] a`);
    await page.waitForSelector('[data-testid=params-table]');
    for (const name of ['x', 'layers', 'opt']) {
      const row = page.locator(`[data-testid=param-row][data-name="${name}"]`);
      assert.match(await row.innerText(), new RegExp(name));
    }
    assert.match(await page.locator('[data-testid=param-row][data-name="opt"]').innerText(),
      new RegExp(String(trial.params.opt)));
    // Where it ran: the local executor's process group, as the API says.
    assert.equal(trial.executor.type, 'local');
    assert.match(await page.locator('[data-testid=run-executor]').innerText(),
      new RegExp(`local process group ${trial.executor.process_group}\\b`));
    // What it ran in: the sweep's environment, a venv, with its content hash.
    assert.equal(trial.environment.kind, 'venv');
    assert.equal(await page.locator('[data-testid=run-environment]').innerText(),
      `inline (venv, ${trial.environment.hash.slice(0, 12)})`);
    await page.waitForFunction(() => /epoch 6 acc=/.test(
      document.querySelector('[data-testid=log-tail]')?.textContent ?? ''));
    await page.waitForFunction(() => /trial finished/.test(
      document.querySelector('[data-testid=log-tail-stderr]')?.textContent ?? ''));
    await page.waitForSelector('[data-testid=metric-chart][data-metric="acc"] canvas');
    const ink = await colouredPixels(page, '[data-testid=metric-chart][data-metric="acc"] canvas');
    assert.ok(ink > 100, `acc chart: ${ink} coloured pixels`);
    assert.match(await page.locator('[data-testid=metric-row][data-name="acc"]').innerText(), /\b6\b/);
    await page.screenshot({ path: path.join(shots, 'run.png'), fullPage: true });
    assert.deepEqual(errors, []);
  });
});

// ---------------------------------------------------------------------------------------------
// The log tail follows a running trial.

test('the run page tails a running trial\'s stdout live', { skip: onlyBig }, async () => {
  const dir = tempWorkspace('logs');
  fs.mkdirSync(path.join(dir, 'src'));
  fs.writeFileSync(path.join(dir, 'src', 'slow.py'), `import time
for i in range(1, 11):
    print(f"line {i} step_metric={i}", flush=True)
    time.sleep(1)
`);
  fs.writeFileSync(path.join(dir, 'job.yml'), `type: command
experiment_name: web-logs
code: src
command: /usr/bin/python3 slow.py
`);
  const server = await startServer(dir);
  const id = overdrive(dir, ['job', 'submit', 'job.yml', '--detach']).trim().split('\n').pop();
  cleanups.push(() => spawnSync(bin, ['--workspace', path.join(dir, 'ws'), 'job', 'cancel', id], { timeout: 30_000 }));
  const { page, errors, close } = await newPage();
  cleanups.push(close);
  await page.goto(`${server.url}/#/runs/${id}`);
  await page.waitForFunction(() => /line \d+/.test(
    document.querySelector('[data-testid=log-tail]')?.textContent ?? ''), null, { timeout: 30_000 });
  const seen = await page.locator('[data-testid=log-tail]').innerText();
  const last = Math.max(...[...seen.matchAll(/line (\d+)/g)].map((m) => Number(m[1])));
  assert.ok(last < 10, `the job had already finished: ${seen}`);
  // New lines arrive through long polling, without a reload.
  await page.waitForFunction((n) => {
    const text = document.querySelector('[data-testid=log-tail]')?.textContent ?? '';
    return new RegExp(`line ${n + 1}\\b`).test(text);
  }, last, { timeout: 30_000 });
  // The metric chart appears and the status turns completed by itself.
  await page.waitForSelector('[data-testid=metric-chart][data-metric="step_metric"] canvas', { timeout: 30_000 });
  await page.waitForSelector('[data-testid=run-header] [data-testid=status-badge][data-status="completed"]',
    { timeout: 60_000 });
  await page.waitForFunction(() => /line 10\b/.test(
    document.querySelector('[data-testid=log-tail]')?.textContent ?? ''));
  assert.deepEqual(errors, []);
});

// ---------------------------------------------------------------------------------------------
// A run with 100,000 points: the run page fetches at most 1,000 buckets and draws them, spike
// included, without the browser ever holding the whole series.

test('a run with 100,000 metric points draws its chart from at most 1,000 buckets', { skip: onlyBig }, async () => {
  const dir = tempWorkspace('long');
  const server = await startServer(dir);
  const post = async (p, body) => {
    const res = await fetch(`${server.url}${p}`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    assert.equal(res.status, 200, `POST ${p}: ${res.status} ${await res.clone().text()}`);
    return res.json();
  };
  const created = await post('/api/2.0/mlflow/runs/create', { experiment_id: '0', run_name: 'long-run' });
  const id = created.run.info.run_id;
  const n = 100_000;
  for (let b = 0; b < n / 10_000; b++) {
    const metrics = [];
    for (let i = 0; i < 10_000; i++) {
      const step = b * 10_000 + i;
      metrics.push({ name: 'loss', value: 1 / (1 + step / 1000) + (step === 55_555 ? 5 : 0), step });
    }
    assert.equal((await post(`/api/v1/runs/${id}/metrics`, { metrics })).accepted, 10_000);
  }
  const history = await getJson(`${server.url}/api/v1/runs/${id}/metrics/loss?max_points=1000`);
  assert.equal(history.count, n);
  assert.ok(history.points.length <= 1000 && history.points.length >= 500, `${history.points.length} buckets`);
  assert.ok(Math.max(...history.points.map((p) => p.max)) > 5, 'the spike survives downsampling');

  const { page, errors, close } = await newPage();
  cleanups.push(close);
  const t0 = Date.now();
  await page.goto(`${server.url}/#/runs/${id}`);
  const canvas = '[data-testid=metric-chart][data-metric="loss"] canvas';
  await page.waitForSelector(canvas, { timeout: 30_000 });
  let drawn = 0;
  for (let i = 0; i < 100 && drawn === 0; i++) {
    drawn = await colouredPixels(page, canvas);
    if (drawn === 0) await new Promise((r) => setTimeout(r, 100));
  }
  const ms = Date.now() - t0;
  assert.ok(drawn > 0, 'the chart drew the series');
  assert.match(await page.locator('.chart-box h3').first().innerText(), /100000 points, downsampled/);
  assert.ok(ms < 10_000, `the run page took ${ms} ms to draw 100,000 points`);
  await page.screenshot({ path: path.join(shots, 'run-100k-points.png'), fullPage: true });
  assert.deepEqual(errors, []);
});

// ---------------------------------------------------------------------------------------------
// A server that needs a token: the dashboard asks for it once, keeps it, and uses it for the API,
// the event stream and downloads.

test('the dashboard asks for a token and uses it for the API, events and downloads', { skip: onlyBig }, async () => {
  const dir = tempWorkspace('token');
  fs.writeFileSync(path.join(dir, 'job.yml'), `type: command
experiment_name: web-token
command: mkdir -p outputs && echo hello-artifact > outputs/model.txt && echo acc=0.5
`);
  const first = overdrive(dir, ['job', 'submit', 'job.yml', '--detach']).trim().split('\n').pop();
  const secret = overdrive(dir, ['token', 'create', '--scope', 'read', '--name', 'web-test']).trim();
  assert.ok(secret.length >= 16, `token create printed a secret: ${secret}`);
  const server = await startServer(dir);
  assert.equal((await fetch(`${server.url}/api/v1/jobs`)).status, 401);
  const { page, errors, close } = await newPage();
  cleanups.push(close);
  await page.goto(`${server.url}/#/`);
  await page.waitForSelector('[data-testid=token-form]');
  await page.fill('[data-testid=token-input]', secret);
  await page.click('[data-testid=token-save]');
  await page.waitForSelector('[data-testid=token-form]', { state: 'detached' });
  await page.locator(`[data-testid=job-row][data-id="${first}"]`).waitFor();
  assert.equal(await page.evaluate(() => localStorage.getItem('overdrive.token')), secret);
  // The event stream carries the token too: a new job shows up without a reload.
  await page.evaluate(() => { window.__noReload = true; });
  const second = overdrive(dir, ['job', 'submit', 'job.yml', '--detach']).trim().split('\n').pop();
  await page.locator(`[data-testid=job-row][data-id="${second}"]`).waitFor({ timeout: 20_000 });
  assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was reloaded');
  // Downloads: the artifact link carries the token and serves the file.
  await page.goto(`${server.url}/#/runs/${first}`);
  await page.waitForSelector('[data-testid=run-header] [data-testid=status-badge][data-status="completed"]',
    { timeout: 60_000 });
  const link = page.locator('[data-testid=artifact-link]', { hasText: 'model.txt' });
  await link.waitFor({ timeout: 30_000 });
  const href = await link.getAttribute('href');
  assert.match(href, /[?&]token=/);
  const body = await page.evaluate(async (u) => (await fetch(u)).text(), href);
  assert.equal(body.trim(), 'hello-artifact');
  // A fresh page of the same browser needs no form: the token is remembered.
  await page.reload();
  await page.waitForSelector('[data-testid=params]');
  assert.equal(await page.locator('[data-testid=token-form]').count(), 0);
  assert.deepEqual(errors, []);
});

// ---------------------------------------------------------------------------------------------
// A big sweep: the page must stay fast (canvas charts, a paginated table).

test(`a sweep of ${bigTrials} trials renders its table and parallel coordinates fast`, async (t) => {
  const dir = tempWorkspace('big');
  fs.writeFileSync(path.join(dir, 'sweep.yml'), `type: sweep
experiment_name: web-big
display_name: big-sweep
trial:
  command: echo "acc=\${{search_space.x}} loss=\${{search_space.lr}}"
sampling_algorithm: {type: random, seed: 5}
search_space:
  x: {type: uniform, min_value: 0, max_value: 1}
  lr: {type: loguniform, min_value: -9, max_value: -1}
  opt: {type: choice, values: [adam, sgd, rmsprop]}
  layers: {type: choice, values: [1, 2, 3, 4]}
objective: {goal: maximize, primary_metric: acc}
limits: {max_total_trials: ${bigTrials}, max_concurrent_trials: 16}
`);
  let t0 = Date.now();
  const out = JSON.parse(overdrive(dir, ['job', 'submit', 'sweep.yml', '--json'], { timeout: 1_800_000 }));
  const seedS = (Date.now() - t0) / 1000;
  t.diagnostic(`seeded ${bigTrials} trials in ${seedS.toFixed(1)} s`);
  const id = out.id;
  assert.ok(id, 'job submit --json printed the sweep id');
  const server = await startServer(dir);

  t0 = Date.now();
  const points = await getJson(`${server.url}/api/v1/runs/${id}/trials/points`);
  const pointsMs = Date.now() - t0;
  assert.equal(points.trials.length, bigTrials);

  const { page, errors, close } = await newPage();
  cleanups.push(close);
  t0 = Date.now();
  await page.goto(`${server.url}/#/runs/${id}`);
  await page.waitForSelector('[data-testid=trial-row]');
  const tableMs = Date.now() - t0;
  await page.waitForSelector(`[data-testid=pc-plot][data-trials="${bigTrials}"]`);
  const pcMs = Date.now() - t0;
  const drawMs = Number(await page.getAttribute('.pc-box', 'data-render-ms'));
  t.diagnostic(`${bigTrials} trials: /trials/points ${pointsMs} ms; page: table ${tableMs} ms, ` +
    `parallel coordinates ${pcMs} ms (drawing both charts ${drawMs} ms)`);
  if (process.env.WEB_TIMINGS_FILE) {
    fs.appendFileSync(process.env.WEB_TIMINGS_FILE, `${JSON.stringify({
      trials: bigTrials, seed_s: seedS, points_api_ms: pointsMs, table_ms: tableMs, pc_ms: pcMs,
      draw_ms: drawMs })}\n`);
  }
  assert.ok(tableMs < bigBudgetMs, `the trials table took ${tableMs} ms`);
  assert.ok(pcMs < bigBudgetMs, `the parallel coordinates took ${pcMs} ms`);
  assert.equal(await page.locator('[data-testid=trial-row]').count(), 50);
  assert.match(await page.locator('[data-testid=trials-range]').innerText(),
    new RegExp(`page 1 of ${Math.ceil(bigTrials / 50)} · ${bigTrials} trials`));
  const ink = await colouredPixels(page, '[data-testid=pc-plot]');
  assert.ok(ink > 5000, `parallel coordinates: ${ink} coloured pixels`);
  await page.screenshot({ path: path.join(shots, `sweep-${bigTrials}.png`), fullPage: true });
  // The best trial leads the default (metric) order; the next page holds other trials.
  const firstPage = await trialRows(page);
  assert.equal(firstPage[0].id, points.trials.reduce((a, b) => (b.best > a.best ? b : a)).id);
  await page.click('[data-testid=trials-next]');
  await page.waitForFunction(() => /page 2 of/.test(
    document.querySelector('[data-testid=trials-range]')?.textContent ?? ''));
  const second = await trialRows(page);
  assert.equal(second.length, 50);
  assert.ok(second[0].best <= firstPage[49].best);
  assert.deepEqual(errors, []);
});
