import { Counter, Gauge } from 'prom-client';
import { perRegistry } from '../metrics.js';

/** What a buffer reports to the gauges at scrape time. */
export interface BufferGaugeSource {
  gaugeValues(): { rows: number; bytes: number; oldestAgeMs: number | undefined };
}

/** The disk buffer's Prometheus metrics (docs/architecture.md §6.7). */
export interface BufferMetrics {
  readonly appends: Counter;
  /** Open buffers whose state the gauges sum at scrape time. */
  readonly sources: Set<BufferGaugeSource>;
}

/**
 * The buffer metrics registered on `registry`, created on first use. The
 * gauges are computed in `collect()` from the open buffers, so the append
 * path pays nothing for them; with several buffers in one registry (tests)
 * rows and bytes are summed and the oldest age is the maximum.
 */
export const bufferMetrics = perRegistry((registry): BufferMetrics => {
  const registers = [registry];
  const sources = new Set<BufferGaugeSource>();
  const snapshot = () => [...sources].map((s) => s.gaugeValues());
  const metrics: BufferMetrics = {
    sources,
    appends: new Counter({
      name: 'eventbus_buffer_appends_total',
      help: 'Events committed to the disk buffer',
      registers,
    }),
  };
  new Gauge({
    name: 'eventbus_buffer_rows',
    help: 'Events in the disk buffer (committed or accepted for the next commit)',
    registers,
    collect() {
      this.set(snapshot().reduce((n, v) => n + v.rows, 0));
    },
  });
  new Gauge({
    name: 'eventbus_buffer_bytes',
    help: 'Bytes of topic, type and body held in the disk buffer',
    registers,
    collect() {
      this.set(snapshot().reduce((n, v) => n + v.bytes, 0));
    },
  });
  new Gauge({
    name: 'eventbus_buffer_oldest_age_seconds',
    help: 'Age of the oldest event in the disk buffer (0 when empty)',
    registers,
    collect() {
      this.set(snapshot().reduce((max, v) => Math.max(max, (v.oldestAgeMs ?? 0) / 1000), 0));
    },
  });
  return metrics;
});
