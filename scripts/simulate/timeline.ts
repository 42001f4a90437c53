/**
 * Samples a running platform for the report's chart while a scenario runs:
 * the price of one symbol, the portfolio's equity, the ESS state (0 armed,
 * 1 reducing, 2 tripped), consumer lag summed over every group, and
 * disk-buffer rows summed over every process, plus any series a scenario
 * adds (the fake venue's weight and requests). A reading that fails (Redis
 * down, a process killed) is left out, not recorded as zero.
 */
import type { ServiceName } from '../../src/actors/services.js';
import type { Cluster } from './cluster.js';
import { bufferRows, essState, latest, totalLag } from './probes.js';
import type { Recorder, Sample } from './record.js';

const ESS_LEVEL: Record<string, number> = { armed: 0, reducing: 1, tripped: 2 };

/** A sampler running in the background; {@link Timeline.stop} ends it and returns what it saw. */
export interface Timeline {
  /** The newest value seen of a series, if any. */
  last(series: string): number | undefined;
  /** Every value of a series so far. */
  values(series: string): number[];
  stop(): Promise<Sample[]>;
}

/** Readings a scenario adds to every sample: series name → value (undefined: no reading this time). */
export type ExtraSeries = () => Record<string, number | undefined>;

/** Starts sampling every `everyMs` (times relative to `recorder`'s start). */
export function startTimeline(
  cluster: Cluster,
  recorder: Recorder,
  options: { symbol: string; services: readonly ServiceName[]; everyMs?: number; extra?: ExtraSeries },
): Timeline {
  const samples: Sample[] = [];
  let running = true;
  const put = (series: string, value: number | undefined) => {
    if (value !== undefined && Number.isFinite(value)) samples.push({ t: recorder.elapsed(), series, value });
  };
  const sampleOnce = async () => {
    const [price, equity, ess, lag, rows] = await Promise.all([
      latest(cluster, 'market', (e) =>
        e.type === 'market.tick' && (e.data as { symbol: string }).symbol === options.symbol
          ? (e.data as { price: number }).price
          : undefined,
      ),
      latest(cluster, 'portfolio', (e) =>
        e.type === 'portfolio.updated' ? (e.data as { equity: number }).equity : undefined,
      ),
      options.services.includes('risk-safety') ? essState(cluster) : Promise.resolve(undefined),
      totalLag(cluster),
      bufferRows(cluster, options.services),
    ]);
    put(`price ${options.symbol}`, price);
    put('equity', equity);
    put('ESS state (0 armed, 1 reducing, 2 tripped)', ess === undefined ? undefined : ESS_LEVEL[ess]);
    put('consumer lag (entries)', lag);
    put('disk buffer rows', rows);
    for (const [series, value] of Object.entries(options.extra?.() ?? {})) put(series, value);
  };
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      await sampleOnce();
      await new Promise((r) => setTimeout(r, Math.max(0, (options.everyMs ?? 500) - (Date.now() - started))));
    }
  })();
  const values = (series: string) => samples.filter((s) => s.series === series).map((s) => s.value);
  return {
    last: (series) => values(series).at(-1),
    values,
    stop: async () => {
      running = false;
      await loop;
      return samples;
    },
  };
}
