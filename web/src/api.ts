// The REST API of `overdrive server` (docs/api.md) and the token it may ask for.

const TOKEN_KEY = 'overdrive.token';

export type Status =
  | 'queued' | 'starting' | 'running' | 'completed' | 'failed' | 'canceled'
  | 'early_terminated' | 'timed_out' | string;

export type ParamValue = string | number | boolean | null;

export interface RunSummary {
  id: string;
  type: 'command' | 'sweep' | 'trial' | 'external' | string;
  status: Status;
  status_reason?: string;
  experiment: string;
  display_name: string;
  parent_id?: string;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  duration_s: number | null;
  exit_code: number | null;
  command: string;
  compute: string;
  tags: Record<string, string>;
  url: string;
}

// Where the executor runs it (docs/api.md): the Slurm job id, or the local process group.
export interface ExecutorInfo {
  type: 'local' | 'slurm' | string;
  summary: string;
  slurm_job_id?: number;
  job_name?: string;
  pid?: number;
  process_group?: number;
}

// The environment a run ran in (docs/api.md): its label, name, version, content hash and kind.
export interface EnvironmentInfo {
  label: string;
  name: string;
  version: string;
  hash: string;
  kind: 'venv' | 'image' | string;
}

export interface MetricSummary {
  last: number;
  min: number;
  max: number;
  count: number;
  last_step: number;
}

export interface RunDetail extends RunSummary {
  executor?: ExecutorInfo | null;
  environment?: EnvironmentInfo | null;
  params: Record<string, ParamValue>;
  metrics: Record<string, MetricSummary>;
  artifacts: { path: string; size: number; digest: string }[];
  events: { timestamp: number; kind: string; message: string }[];
  // Sweeps only.
  objective?: { primary_metric: string; goal: 'maximize' | 'minimize' | string };
  sampling?: unknown;
  early_termination?: unknown;
  max_total_trials?: number;
  best_trial?: string | null;
  best_value?: number | null;
  trial_counts?: Record<string, number>;
  trial_seconds?: number;
  saved_trial_seconds?: number;
}

export interface Experiment {
  id: number;
  name: string;
  created_at: number;
  runs: number;
  active: number;
}

export interface JobsPage {
  jobs: RunSummary[];
  total: number;
  offset: number;
  limit: number;
}

export interface TrialRow {
  id: string;
  status: Status;
  status_reason?: string;
  display_name: string;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  duration_s: number | null;
  params: Record<string, ParamValue>;
  metric: { best: number | null; last: number | null; count: number } | null;
  index?: number; // 1-based, in the order the trials were created
}

export interface RunsPage {
  runs: TrialRow[];
  total: number;
  offset: number;
  limit: number;
  metric?: string;
  goal?: string;
  best_trial?: string | null;
  param_names?: string[];
}

export interface TrialPoint {
  id: string;
  status: Status;
  params: Record<string, ParamValue>;
  best: number | null;
  last: number | null;
  count: number;
}

export interface TrialPoints {
  metric: string;
  goal: string;
  param_names: string[];
  best_trial?: string | null;
  trials: TrialPoint[];
}

export interface MetricHistory {
  name: string;
  count: number;
  downsampled: boolean;
  points: { step: number; value: number; min: number; max: number }[];
}

export interface LogChunk {
  data: string;
  offset: number;
  next_offset: number;
  size: number;
  final: boolean;
}

export interface Health {
  status: string;
  version: string;
  store: string;
  auth: boolean;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function getToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token: string | null): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

// Called once whenever a request is refused for want of a (valid) token.
let onUnauthenticated: (message: string) => void = () => {};
export function setUnauthenticatedHandler(fn: (message: string) => void): void {
  onUnauthenticated = fn;
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export function apiUrl(path: string, query: Query = {}, withToken = false): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  }
  if (withToken) {
    const t = getToken();
    if (t) params.set('token', t);
  }
  const qs = params.toString();
  return `/api/v1${path}${qs ? `?${qs}` : ''}`;
}

async function request<T>(method: string, path: string, query: Query = {},
                          signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(apiUrl(path, query), { method, headers, signal });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'network', `the server did not answer (${(e as Error).message})`);
  }
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!res.ok) {
    const err = (body as { error?: { code?: string; message?: string } } | null)?.error;
    const message = err?.message ?? `${method} ${path}: HTTP ${res.status}`;
    if (res.status === 401) onUnauthenticated(message);
    throw new ApiError(res.status, err?.code ?? 'http', message);
  }
  return body as T;
}

export const api = {
  health: () => request<Health>('GET', '/health'),
  experiments: () => request<{ experiments: Experiment[] }>('GET', '/experiments'),
  jobs: (q: Query) => request<JobsPage>('GET', '/jobs', q),
  run: (id: string) => request<RunDetail>('GET', `/runs/${encodeURIComponent(id)}`),
  runs: (q: Query) => request<RunsPage>('GET', '/runs', q),
  trialPoints: (id: string, metric?: string) =>
    request<TrialPoints>('GET', `/runs/${encodeURIComponent(id)}/trials/points`, { metric }),
  metric: (id: string, name: string, maxPoints = 1000) =>
    request<MetricHistory>('GET',
      `/runs/${encodeURIComponent(id)}/metrics/${encodeURIComponent(name)}`,
      { max_points: maxPoints }),
  logs: (id: string, q: Query, signal?: AbortSignal) =>
    request<LogChunk>('GET', `/runs/${encodeURIComponent(id)}/logs`, q, signal),
  cancel: (id: string) =>
    request<{ id: string; status: string }>('POST', `/runs/${encodeURIComponent(id)}/cancel`),
};

export function artifactUrl(runId: string, path: string): string {
  const encoded = path.split('/').map(encodeURIComponent).join('/');
  return apiUrl(`/runs/${encodeURIComponent(runId)}/artifacts/${encoded}`, {}, true);
}

// Subscribes to the server's event stream; `onUpdate` runs for every `update` event and once
// after a reconnect (changes may have been missed meanwhile). Returns the unsubscribe function.
export function subscribe(run: string | null, onUpdate: () => void): () => void {
  if (typeof EventSource === 'undefined') return () => {};
  let closed = false;
  let source: EventSource | null = null;
  let retry: number | undefined;
  let hadError = false;
  const open = () => {
    if (closed) return;
    source = new EventSource(apiUrl('/events', { run: run ?? undefined }, true));
    source.addEventListener('update', () => onUpdate());
    source.onopen = () => {
      if (hadError) onUpdate();
      hadError = false;
    };
    source.onerror = () => {
      hadError = true;
      // EventSource retries by itself unless the server refused it (then it is CLOSED).
      if (source && source.readyState === EventSource.CLOSED) {
        source.close();
        retry = window.setTimeout(open, 3000);
      }
    };
  };
  open();
  return () => {
    closed = true;
    window.clearTimeout(retry);
    source?.close();
  };
}
