// uPlot charts: one metric's history, a sweep's progress (each trial's best and the best so far),
// and a few trials' curves of the primary metric on one chart.
import uPlot from 'uplot';
import type { MetricHistory } from '../api';
import { fmtNum } from '../util';

const HEIGHT = 220;
export const PALETTE = ['#3b82f6', '#f59e0b', '#10b981', '#ef4444', '#8b5cf6', '#06b6d4',
  '#ec4899', '#84cc16'];

function widthOf(el: HTMLElement): number {
  return Math.max(240, Math.floor(el.clientWidth || 480));
}

const valueAxis: uPlot.Axis = {
  size: 60,
  values: (_u, splits) => splits.map((v) => (v === null ? '' : fmtNum(v))),
};

// Steps and trial numbers are integers: no ticks between them.
const INT_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000,
  20000, 25000, 50000, 100000, 200000, 250000, 500000, 1000000, 2000000, 5000000, 10000000];
const stepAxis = (label?: string): uPlot.Axis => ({ label, incrs: INT_INCRS });

// Keeps a uPlot chart as wide as its container.
class Chart {
  protected plot: uPlot | null = null;
  private observer: ResizeObserver;
  constructor(protected readonly el: HTMLElement) {
    this.observer = new ResizeObserver(() => {
      if (this.plot) this.plot.setSize({ width: widthOf(this.el), height: HEIGHT });
    });
    this.observer.observe(el);
  }
  protected show(opts: Omit<uPlot.Options, 'width' | 'height'>, data: uPlot.AlignedData,
                 rebuild: boolean): void {
    if (this.plot && !rebuild) {
      this.plot.setData(data);
      return;
    }
    this.plot?.destroy();
    this.plot = new uPlot({ ...opts, width: widthOf(this.el), height: HEIGHT } as uPlot.Options,
      data, this.el);
  }
  destroy(): void {
    this.observer.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}

// One metric over steps; a downsampled history also shows each bucket's min..max as a band.
export class MetricChart extends Chart {
  private downsampled: boolean | null = null;
  constructor(el: HTMLElement, private readonly name: string) {
    super(el);
  }
  setData(hist: MetricHistory): void {
    const steps = hist.points.map((p) => p.step);
    const values = hist.points.map((p) => p.value);
    const series: uPlot.Series[] = [
      { label: 'step' },
      { label: this.name, stroke: PALETTE[0], width: 1.5, points: { show: hist.points.length < 60 } },
    ];
    let data: uPlot.AlignedData = [steps, values];
    const opts: Omit<uPlot.Options, 'width' | 'height'> = {
      series,
      axes: [stepAxis(), valueAxis],
      scales: { x: { time: false } },
      legend: { live: true },
    };
    if (hist.downsampled) {
      series.push({ label: 'min', stroke: 'rgba(59,130,246,0.25)', width: 1 },
        { label: 'max', stroke: 'rgba(59,130,246,0.25)', width: 1 });
      opts.bands = [{ series: [3, 2], fill: 'rgba(59,130,246,0.12)' }];
      data = [steps, values, hist.points.map((p) => p.min), hist.points.map((p) => p.max)];
    }
    const rebuild = this.downsampled !== hist.downsampled;
    this.downsampled = hist.downsampled;
    this.show(opts, data, rebuild);
  }
}

// Each trial's best value of the primary metric against the trial's index (dots), and the best
// value so far (a step line).
export class ProgressChart extends Chart {
  private built = false;
  constructor(el: HTMLElement, private readonly metric: string, private readonly goal: string) {
    super(el);
  }
  setData(bests: (number | null)[]): void {
    const xs: number[] = [];
    const ys: (number | null)[] = [];
    const so: (number | null)[] = [];
    let best: number | null = null;
    const better = (a: number, b: number) => (this.goal === 'minimize' ? a < b : a > b);
    bests.forEach((v, i) => {
      xs.push(i + 1);
      ys.push(v);
      if (v !== null && Number.isFinite(v) && (best === null || better(v, best))) best = v;
      so.push(best);
    });
    const opts: Omit<uPlot.Options, 'width' | 'height'> = {
      series: [
        { label: 'trial' },
        {
          label: `${this.metric} (trial best)`, stroke: 'rgba(59,130,246,0.9)', width: 0,
          paths: () => null, points: { show: true, size: bests.length > 2000 ? 3 : 5,
            fill: 'rgba(59,130,246,0.5)' },
        },
        { label: 'best so far', stroke: '#ef4444', width: 2, paths: uPlot.paths.stepped!({ align: 1 }),
          points: { show: false } },
      ],
      axes: [stepAxis('trial #'), valueAxis],
      scales: { x: { time: false } },
    };
    this.show(opts, [xs, ys, so], !this.built);
    this.built = true;
  }
}

// A few trials' curves of the primary metric, aligned on steps.
export class CurvesChart extends Chart {
  private key = '';
  setData(curves: { label: string; hist: MetricHistory }[]): void {
    const tables: uPlot.AlignedData[] = curves.map((c) => [
      c.hist.points.map((p) => p.step), c.hist.points.map((p) => p.value)]);
    const data = tables.length ? uPlot.join(tables as [number[], number[]][]) : [[]];
    const key = curves.map((c) => c.label).join('|');
    const opts: Omit<uPlot.Options, 'width' | 'height'> = {
      series: [{ label: 'step' }, ...curves.map((c, i) => ({
        label: c.label, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true,
        points: { show: false },
      }))],
      axes: [stepAxis('interval'), valueAxis],
      scales: { x: { time: false } },
    };
    this.show(opts, data as uPlot.AlignedData, key !== this.key);
    this.key = key;
  }
}
