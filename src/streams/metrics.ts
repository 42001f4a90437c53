import { Counter, Gauge, Histogram } from 'prom-client';
import { perRegistry } from '../metrics.js';

/** The event bus's Prometheus metrics (names in docs/architecture.md §13). */
export interface BusMetrics {
  readonly published: Counter<'topic' | 'outcome'>;
  readonly consumed: Counter<'topic' | 'group' | 'outcome'>;
  readonly processing: Histogram<'topic' | 'group'>;
  readonly lag: Gauge<'topic' | 'group'>;
  readonly lagSeconds: Gauge<'topic' | 'group'>;
  readonly gaps: Counter<'topic' | 'group'>;
  readonly deadLettered: Counter<'topic' | 'group' | 'reason'>;
}

/**
 * The bus metrics registered on `registry`, created on first use, so every
 * publisher and consumer of a process shares one set of series.
 */
export const busMetrics = perRegistry((registry): BusMetrics => {
  const registers = [registry];
  const metrics: BusMetrics = {
    published: new Counter({
      name: 'eventbus_messages_published_total',
      help: 'Events published, by topic and outcome (redis, duplicate, failed)',
      labelNames: ['topic', 'outcome'],
      registers,
    }),
    consumed: new Counter({
      name: 'eventbus_messages_consumed_total',
      help: 'Stream entries consumed, by outcome (handled, duplicate, dead_lettered, retried)',
      labelNames: ['topic', 'group', 'outcome'],
      registers,
    }),
    processing: new Histogram({
      name: 'eventbus_message_processing_duration_seconds',
      help: 'Handler time per event',
      labelNames: ['topic', 'group'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    }),
    lag: new Gauge({
      name: 'eventbus_queue_lag',
      help: 'Entries in the stream not yet delivered to the group (XINFO GROUPS lag)',
      labelNames: ['topic', 'group'],
      registers,
    }),
    lagSeconds: new Gauge({
      name: 'eventbus_queue_lag_seconds',
      help: 'Age of the oldest entry not yet delivered to the group (0 without lag)',
      labelNames: ['topic', 'group'],
      registers,
    }),
    gaps: new Counter({
      name: 'eventbus_sequence_gaps_total',
      help: 'Events missing from a producer sequence, as seen by a consumer group',
      labelNames: ['topic', 'group'],
      registers,
    }),
    deadLettered: new Counter({
      name: 'eventbus_dead_letters_total',
      help: 'Entries moved to the dlq stream, by reason',
      labelNames: ['topic', 'group', 'reason'],
      registers,
    }),
  };
  return metrics;
});
