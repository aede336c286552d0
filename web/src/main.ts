// Overdrive's dashboard: hash routes `#/` (experiments and jobs) and `#/runs/ID` (a run, or a
// sweep's page). Every page returns a cleanup function that closes its streams and timers.
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { api, ApiError, setToken, setUnauthenticatedHandler, getToken } from './api';
import { h, clear, errorBox } from './util';
import { mountHome } from './pages/home';
import { mountRun } from './pages/run';
import { mountSweep } from './pages/sweep';

export type Cleanup = () => void;

const app = document.getElementById('app')!;
let cleanup: Cleanup = () => {};
let generation = 0;

async function route(): Promise<void> {
  cleanup();
  cleanup = () => {};
  const gen = ++generation;
  clear(app);
  const hash = decodeURIComponent(location.hash.replace(/^#/, '')) || '/';
  const m = hash.match(/^\/runs\/([^/?]+)/);
  if (!m) {
    cleanup = mountHome(app);
    return;
  }
  const id = m[1];
  app.appendChild(h('p', { class: 'muted' }, `Loading run ${id}…`));
  try {
    const run = await api.run(id);
    if (gen !== generation) return;
    clear(app);
    cleanup = run.type === 'sweep' ? mountSweep(app, run) : mountRun(app, run);
  } catch (e) {
    if (gen !== generation) return;
    clear(app);
    app.appendChild(h('p', {}, h('a', { href: '#/' }, '← jobs')));
    app.appendChild(errorBox(e));
  }
}

// The token form: shown when a request is refused with 401.
let tokenForm: HTMLElement | null = null;
function showTokenForm(message: string): void {
  if (tokenForm) return;
  const input = h('input', {
    type: 'password', placeholder: 'paste a token (overdrive token create)',
    'data-testid': 'token-input', autocomplete: 'off', size: 48,
  });
  const form = h('form', { class: 'token-form', 'data-testid': 'token-form' },
    h('strong', {}, 'This server needs a token. '),
    h('span', { class: 'muted' }, getToken() ? `The stored token was refused: ${message}` : message),
    h('div', {}, input, ' ', h('button', { type: 'submit', 'data-testid': 'token-save' }, 'Use token')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    setToken(input.value.trim() || null);
    form.remove();
    tokenForm = null;
    void loadHealth();
    void route();
  });
  tokenForm = form;
  document.body.insertBefore(form, app);
  input.focus();
}
setUnauthenticatedHandler(showTokenForm);

async function loadHealth(): Promise<void> {
  const info = document.querySelector<HTMLElement>('[data-testid=server-info]');
  if (!info) return;
  try {
    const hl = await api.health();
    info.textContent = `v${hl.version} · ${hl.store}${hl.auth ? ' · auth' : ''}`;
    if (hl.auth && getToken()) {
      info.appendChild(h('button', {
        class: 'link', title: 'forget the stored token',
        onclick: () => { setToken(null); location.reload(); },
      }, ' sign out'));
    }
  } catch (e) {
    info.textContent = e instanceof ApiError && e.status === 401 ? '' : 'server unreachable';
  }
}

window.addEventListener('hashchange', () => void route());
void loadHealth();
void route();
