// Parallel coordinates on one <canvas>: an axis per hyperparameter and a last one for the primary
// metric (better values on top), a line per trial coloured by its metric, the best trial drawn
// last and thick. Hovering shows the nearest trial; clicking opens it. No DOM per trial, so
// 10,000 trials draw in a few milliseconds.
import type { ParamValue, TrialPoint, TrialPoints } from '../api';
import { fmtNum, fmtValue } from '../util';

const HEIGHT = 340;
const PAD = { top: 28, bottom: 34, left: 84, right: 70 };

interface Axis {
  name: string;
  kind: 'linear' | 'log' | 'category';
  min: number;
  max: number;
  categories: ParamValue[];   // for 'category'
  flip: boolean;              // the metric axis of a minimised objective
}

// Viridis, sampled: 0 = worst, 1 = best.
const VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
  [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]];
function colour(t: number, alpha: number): string {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const c = VIRIDIS[i].map((v, k) => Math.round(v + (VIRIDIS[i + 1][k] - v) * f));
  return `rgba(${c[0]},${c[1]},${c[2]},${alpha})`;
}

function compareValues(a: ParamValue, b: ParamValue): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b));
}

// `metric`: the objective's axis, always linear, better values on top (`flip` when minimising).
function makeAxis(name: string, values: ParamValue[], metric = false, flip = false): Axis {
  const present = values.filter((v) => v !== null && v !== undefined);
  const numeric = present.length > 0 && present.every((v) => typeof v === 'number' && Number.isFinite(v));
  if (metric && !numeric) return { name, kind: 'linear', min: 0, max: 1, categories: [], flip };
  if (numeric) {
    const nums = present as number[];
    let min = Infinity;
    let max = -Infinity;
    for (const v of nums) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const distinct = new Set(nums);
    // A handful of integers (a `choice` of layer counts) reads better as categories.
    if (distinct.size <= 8 && nums.every(Number.isInteger) && !metric) {
      return { name, kind: 'category', min: 0, max: 0, flip,
        categories: [...distinct].sort((a, b) => a - b) };
    }
    const log = min > 0 && max / min >= 100 && !metric;
    if (min === max) {
      min -= 0.5;
      max += 0.5;
    }
    return { name, kind: log ? 'log' : 'linear', min, max, categories: [], flip };
  }
  const cats = [...new Set(present.map((v) => (typeof v === 'object' ? JSON.stringify(v) : v)))];
  cats.sort(compareValues);
  return { name, kind: 'category', min: 0, max: 0, categories: cats as ParamValue[], flip };
}

// A fixed pseudo-random offset in [-0.5, 0.5) per trial, so that lines through one category
// fan out instead of hiding each other.
function jitter(i: number): number {
  let x = (i + 1) * 2654435761;
  x = (x ^ (x >>> 16)) >>> 0;
  return (x % 1000) / 1000 - 0.5;
}

// Position of a value on an axis, 0 (bottom) .. 1 (top); NaN when it has none. Categories sit
// at the middle of equal bands, spread by the trial's jitter.
function position(axis: Axis, v: ParamValue | undefined, trial = -1): number {
  if (v === null || v === undefined) return NaN;
  let t: number;
  if (axis.kind === 'category') {
    const key = typeof v === 'object' ? JSON.stringify(v) : v;
    const i = axis.categories.indexOf(key);
    if (i < 0) return NaN;
    const n = axis.categories.length;
    t = (i + 0.5 + (trial >= 0 ? 0.5 * jitter(trial) : 0)) / n;
  } else if (typeof v !== 'number') {
    return NaN;
  } else if (axis.kind === 'log') {
    t = (Math.log(v) - Math.log(axis.min)) / (Math.log(axis.max) - Math.log(axis.min));
  } else {
    t = (v - axis.min) / (axis.max - axis.min);
  }
  return axis.flip ? 1 - t : t;
}

function ticks(axis: Axis): { t: number; label: string }[] {
  if (axis.kind === 'category') {
    const n = axis.categories.length;
    const every = Math.max(1, Math.ceil(n / 12));
    return axis.categories
      .map((c, i) => ({ t: (i + 0.5) / n, label: fmtValue(c) }))
      .filter((_, i) => i % every === 0 || i === n - 1);
  }
  const out: { t: number; label: string }[] = [];
  for (let i = 0; i <= 4; i++) {
    const f = i / 4;
    const v = axis.kind === 'log'
      ? Math.exp(Math.log(axis.min) + f * (Math.log(axis.max) - Math.log(axis.min)))
      : axis.min + f * (axis.max - axis.min);
    out.push({ t: axis.flip ? 1 - f : f, label: fmtNum(v) });
  }
  return out;
}

export class ParallelCoordinates {
  readonly canvas: HTMLCanvasElement;
  private readonly tip: HTMLDivElement;
  private axes: Axis[] = [];
  private trials: TrialPoint[] = [];
  private pos = new Float32Array(0);     // trials × axes positions (0..1 or NaN)
  private goodness = new Float32Array(0); // 0 worst .. 1 best, NaN without a metric
  private order: number[] = [];          // draw order: no metric, worst .. best
  private bestIndex = -1;
  private hover = -1;
  private observer: ResizeObserver;
  private width = 600;

  constructor(private readonly el: HTMLElement, private readonly onOpen: (id: string) => void) {
    this.canvas = document.createElement('canvas');
    this.canvas.setAttribute('data-testid', 'pc-plot');
    this.canvas.className = 'pc-canvas';
    this.tip = document.createElement('div');
    this.tip.className = 'pc-tip';
    this.tip.hidden = true;
    el.style.position = 'relative';
    el.append(this.canvas, this.tip);
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(el);
    this.canvas.addEventListener('mousemove', (ev) => this.onMove(ev));
    this.canvas.addEventListener('mouseleave', () => {
      this.hover = -1;
      this.tip.hidden = true;
      this.draw();
    });
    this.canvas.addEventListener('click', () => {
      if (this.hover >= 0) this.onOpen(this.trials[this.hover].id);
    });
    this.resize();
  }

  setData(points: TrialPoints, bestId: string | null | undefined): void {
    const trials = points.trials;
    const goal = points.goal;
    const axes = points.param_names.map((name) => makeAxis(name, trials.map((t) => t.params[name])));
    const metricAxis = makeAxis(points.metric,
      trials.map((t) => (t.best !== null && Number.isFinite(t.best) ? t.best : null)),
      true, goal === 'minimize');
    axes.push(metricAxis);
    const nA = axes.length;
    const pos = new Float32Array(trials.length * nA);
    const good = new Float32Array(trials.length);
    trials.forEach((t, i) => {
      for (let a = 0; a < nA - 1; a++) pos[i * nA + a] = position(axes[a], t.params[axes[a].name], i);
      const m = t.best === null || t.best === undefined || !Number.isFinite(t.best) ? NaN : t.best;
      const p = Number.isNaN(m) ? NaN : position(metricAxis, m);
      pos[i * nA + nA - 1] = p;
      good[i] = p;
    });
    const order = trials.map((_, i) => i);
    order.sort((a, b) => {
      const ga = good[a];
      const gb = good[b];
      if (Number.isNaN(ga)) return Number.isNaN(gb) ? 0 : -1;
      if (Number.isNaN(gb)) return 1;
      return ga - gb;
    });
    this.axes = axes;
    this.trials = trials;
    this.pos = pos;
    this.goodness = good;
    this.order = order;
    this.bestIndex = bestId ? trials.findIndex((t) => t.id === bestId) : -1;
    this.canvas.dataset.trials = String(trials.length);
    this.draw();
  }

  private resize(): void {
    const w = Math.max(320, Math.floor(this.el.clientWidth || 600));
    if (w === this.width && this.canvas.width > 0) return;
    this.width = w;
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.floor(w * dpr);
    this.canvas.height = Math.floor(HEIGHT * dpr);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${HEIGHT}px`;
    this.draw();
  }

  private axisX(a: number): number {
    const n = this.axes.length;
    const inner = this.width - PAD.left - PAD.right;
    return n <= 1 ? PAD.left + inner / 2 : PAD.left + (inner * a) / (n - 1);
  }

  private axisY(t: number): number {
    return PAD.top + (1 - t) * (HEIGHT - PAD.top - PAD.bottom);
  }

  private tracePath(ctx: CanvasRenderingContext2D, i: number): void {
    const nA = this.axes.length;
    let pen = false;
    for (let a = 0; a < nA; a++) {
      const t = this.pos[i * nA + a];
      if (Number.isNaN(t)) {
        pen = false;
        continue;
      }
      const x = this.axisX(a);
      const y = this.axisY(t);
      if (pen) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
      pen = true;
    }
  }

  draw(): void {
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, this.width, HEIGHT);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, this.width, HEIGHT);
    const n = this.trials.length;
    if (n === 0 || this.axes.length === 0) {
      ctx.fillStyle = '#888';
      ctx.font = '13px system-ui, sans-serif';
      ctx.fillText('No trials yet.', PAD.left, HEIGHT / 2);
      return;
    }
    const alpha = n > 5000 ? 0.12 : n > 1000 ? 0.2 : n > 200 ? 0.35 : 0.7;
    ctx.lineWidth = 1;
    // Trials without a metric: one grey path.
    ctx.strokeStyle = `rgba(150,150,150,${alpha * 0.6})`;
    ctx.beginPath();
    let k = 0;
    for (; k < this.order.length && Number.isNaN(this.goodness[this.order[k]]); k++) {
      this.tracePath(ctx, this.order[k]);
    }
    ctx.stroke();
    // The rest, batched into 32 colour bands so 10,000 lines are a few dozen strokes.
    const BANDS = 32;
    for (let b = 0; b < BANDS; b++) {
      ctx.beginPath();
      let any = false;
      while (k < this.order.length && Math.min(BANDS - 1, Math.floor(this.goodness[this.order[k]] * BANDS)) <= b) {
        this.tracePath(ctx, this.order[k]);
        k++;
        any = true;
      }
      if (any) {
        ctx.strokeStyle = colour((b + 0.5) / BANDS, alpha);
        ctx.stroke();
      }
    }
    const highlight = (i: number, color: string, width: number) => {
      ctx.beginPath();
      this.tracePath(ctx, i);
      ctx.strokeStyle = '#fff';
      ctx.lineWidth = width + 2;
      ctx.stroke();
      ctx.beginPath();
      this.tracePath(ctx, i);
      ctx.strokeStyle = color;
      ctx.lineWidth = width;
      ctx.stroke();
    };
    if (this.bestIndex >= 0) highlight(this.bestIndex, '#e11d48', 2.5);
    if (this.hover >= 0 && this.hover !== this.bestIndex) highlight(this.hover, '#111', 1.5);
    // Axes on top.
    ctx.lineWidth = 1;
    ctx.font = '11px system-ui, sans-serif';
    this.axes.forEach((axis, a) => {
      const x = this.axisX(a);
      ctx.strokeStyle = '#444';
      ctx.beginPath();
      ctx.moveTo(x, this.axisY(1));
      ctx.lineTo(x, this.axisY(0));
      ctx.stroke();
      ctx.fillStyle = '#111';
      ctx.textAlign = 'center';
      ctx.font = 'bold 12px system-ui, sans-serif';
      const isMetric = a === this.axes.length - 1;
      const title = isMetric ? `${axis.name} ${axis.flip ? '(min)' : '(max)'}` : axis.name;
      ctx.fillText(title, x, PAD.top - 12);
      if (axis.kind === 'log') {
        ctx.fillStyle = '#888';
        ctx.font = '10px system-ui, sans-serif';
        ctx.fillText('log', x, HEIGHT - PAD.bottom + 24);
      }
      ctx.font = '11px system-ui, sans-serif';
      ctx.textAlign = 'right';
      for (const tk of ticks(axis)) {
        const y = this.axisY(tk.t);
        ctx.strokeStyle = '#444';
        ctx.beginPath();
        ctx.moveTo(x - 3, y);
        ctx.lineTo(x, y);
        ctx.stroke();
        const label = tk.label.length > 12 ? `${tk.label.slice(0, 11)}…` : tk.label;
        ctx.fillStyle = 'rgba(255,255,255,0.8)';
        const w = ctx.measureText(label).width;
        ctx.fillRect(x - 6 - w - 2, y - 7, w + 4, 13);
        ctx.fillStyle = '#333';
        ctx.fillText(label, x - 6, y + 4);
      }
    });
  }

  private onMove(ev: MouseEvent): void {
    const r = this.canvas.getBoundingClientRect();
    const mx = ev.clientX - r.left;
    const my = ev.clientY - r.top;
    const nA = this.axes.length;
    if (nA < 2 || this.trials.length === 0) return;
    // Between which two axes is the pointer?
    let a = 0;
    while (a < nA - 2 && this.axisX(a + 1) < mx) a++;
    const x0 = this.axisX(a);
    const x1 = this.axisX(a + 1);
    const f = Math.min(1, Math.max(0, (mx - x0) / (x1 - x0)));
    let best = -1;
    let bestD = 8; // pixels
    for (let i = 0; i < this.trials.length; i++) {
      const t0 = this.pos[i * nA + a];
      const t1 = this.pos[i * nA + a + 1];
      if (Number.isNaN(t0) || Number.isNaN(t1)) continue;
      const y = this.axisY(t0 + (t1 - t0) * f);
      const d = Math.abs(y - my);
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    }
    if (best !== this.hover) {
      this.hover = best;
      this.draw();
    }
    this.canvas.style.cursor = best >= 0 ? 'pointer' : 'default';
    if (best < 0) {
      this.tip.hidden = true;
      return;
    }
    const t = this.trials[best];
    this.tip.textContent = '';
    const lines = [`${t.id} · ${t.status}`,
      `${this.axes[nA - 1].name}: ${fmtNum(t.best)}`,
      ...Object.entries(t.params).map(([k, v]) => `${k}: ${fmtValue(v)}`)];
    for (const line of lines) {
      const div = document.createElement('div');
      div.textContent = line;
      this.tip.appendChild(div);
    }
    this.tip.hidden = false;
    this.tip.style.left = `${Math.min(mx + 14, this.width - 200)}px`;
    this.tip.style.top = `${Math.max(0, my - 10)}px`;
  }

  destroy(): void {
    this.observer.disconnect();
    this.el.replaceChildren();
  }
}
