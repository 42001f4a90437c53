import test from 'ava';
import { DEFAULT_BLOCK_MS, DEFAULT_CLAIM_IDLE_MS, DEFAULT_MAX_DELIVERIES } from '../../src/config/schema.js';
import { consumerTiming, type StreamConsumerOptions } from '../../src/streams/consumer-settings.js';

const base = {} as StreamConsumerOptions;

test('defaults are the named constants; the reclaim interval is half the idle time', (t) => {
  const timing = consumerTiming(base);
  t.is(timing.maxDeliveries, DEFAULT_MAX_DELIVERIES);
  t.is(timing.blockMs, DEFAULT_BLOCK_MS);
  t.is(timing.claimIntervalMs, DEFAULT_CLAIM_IDLE_MS / 2);
  t.is(timing.startFrom, '0');
  t.true(Object.isFrozen(timing));
});

test('bad settings are refused once, at construction, naming each one', (t) => {
  const err = t.throws(() =>
    consumerTiming({ ...base, maxDeliveries: 0, blockMs: 120_000, readCount: 1.5 } as StreamConsumerOptions),
  );
  t.is((err as { code?: string }).code, 'QT_CONFIG_INVALID');
  for (const name of ['maxDeliveries', 'blockMs', 'readCount']) t.regex(err?.message ?? '', new RegExp(name));
});
