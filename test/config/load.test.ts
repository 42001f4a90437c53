import test from 'ava';
import { DEFAULT_PROBE_THRESHOLDS } from '../../src/config/health.js';
import { loadConfig } from '../../src/config/load.js';
import { DEFAULT_CLAIM_IDLE_MS, DEFAULT_MAX_DELIVERIES, DEFAULT_REDIS_URL } from '../../src/config/schema.js';
import { isQtError, type QtError } from '../../src/errors.js';

test('an empty environment gives the documented defaults', (t) => {
  const c = loadConfig({});
  t.deepEqual(c.redis, {
    mode: 'standalone',
    url: DEFAULT_REDIS_URL,
    minReplicasAck: 0,
    tlsCaFile: undefined,
    waitTimeoutMs: 1_000,
    commandTimeoutMs: 5_000,
    breakerHalfOpenMs: 60_000,
    explicit: false,
    local: 'auto',
  });
  t.deepEqual(c.buffer, {
    synchronous: 'FULL',
    maxRows: 1_000_000,
    maxBytes: 1024 ** 3,
    whenFull: 'block',
    blockTimeoutMs: 30_000,
  });
  t.is(c.keyPrefix, 'qt');
  t.is(c.consumer.maxDeliveries, DEFAULT_MAX_DELIVERIES);
  t.is(c.consumer.claimIdleMs, DEFAULT_CLAIM_IDLE_MS);
  t.is(c.retention.maxLen, undefined);
  t.is(c.adminToken, undefined);
});

test('values are coerced from strings and the result is frozen', (t) => {
  const c = loadConfig({ QT_MAX_DELIVERIES: '7', REDIS_URL: 'rediss://u:p@example.test:6380', QT_LOG_PRETTY: 'false' });
  t.is(c.consumer.maxDeliveries, 7);
  t.true(c.redis.explicit);
  t.is(c.log.pretty, false);
  t.true(Object.isFrozen(c));
  t.true(Object.isFrozen(c.consumer));
});

test('sentinels are parsed into host/port pairs', (t) => {
  const c = loadConfig({ REDIS_SENTINELS: '10.0.0.1:26379, 10.0.0.2:26380', REDIS_MASTER_NAME: 'main' });
  t.is(c.redis.mode, 'sentinel');
  if (c.redis.mode !== 'sentinel') return;
  t.deepEqual(c.redis.sentinels, [
    { host: '10.0.0.1', port: 26379 },
    { host: '10.0.0.2', port: 26380 },
  ]);
  t.is(c.redis.masterName, 'main');
});

test('empty variables count as unset', (t) => {
  t.is(loadConfig({ QT_MAX_DELIVERIES: '' }).consumer.maxDeliveries, DEFAULT_MAX_DELIVERIES);
});

test('every bad key is named, with why, in one error', (t) => {
  const err = t.throws(() =>
    loadConfig({ REDIS_URL: 'http://x', QT_MAX_DELIVERIES: '-1', QT_BLOCK_MS: 'soon', QT_ADMIN_TOKEN: 'short' }),
  ) as QtError;
  t.true(isQtError(err, 'QT_CONFIG_INVALID'));
  const keys = ((err.details?.issues ?? []) as { key: string }[]).map((i) => i.key).sort();
  t.deepEqual(keys, ['QT_ADMIN_TOKEN', 'QT_BLOCK_MS', 'QT_MAX_DELIVERIES', 'REDIS_URL']);
  t.regex(err.message, /REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL/);
  t.regex(err.message, /QT_ADMIN_TOKEN: must be at least 16 characters/);
  t.regex(err.message, /4 problems/);
});

test('settings that only make sense together are checked together', (t) => {
  const err = t.throws(() =>
    loadConfig({
      REDIS_WAIT_TIMEOUT_MS: '5000',
      REDIS_COMMAND_TIMEOUT_MS: '2000',
      QT_ESS_SOFT_DRAWDOWN: '0.2',
      QT_ESS_HARD_DRAWDOWN: '0.1',
    }),
  ) as QtError;
  t.regex(err.message, /REDIS_WAIT_TIMEOUT_MS: must be below REDIS_COMMAND_TIMEOUT_MS/);
  t.regex(err.message, /QT_ESS_SOFT_DRAWDOWN: must be below QT_ESS_HARD_DRAWDOWN/);
});

test('secrets are not echoed in the error', (t) => {
  const err = t.throws(() => loadConfig({ QT_ADMIN_TOKEN: 'tiny-secret' })) as QtError;
  t.false(err.message.includes('tiny-secret'));
});

test('symbol and balance lists name their variable and the rule: zero prices and repeated names are refused', (t) => {
  const issues = (env: NodeJS.ProcessEnv) => {
    const err = t.throws(() => loadConfig(env)) as QtError;
    t.is(err.code, 'QT_CONFIG_INVALID');
    return ((err.details?.issues ?? []) as { key: string; message: string }[]).map((i) => `${i.key}: ${i.message}`);
  };
  t.deepEqual(issues({ QT_FEED_SYMBOLS: 'BTCUSDT:0' }), ['QT_FEED_SYMBOLS: BTCUSDT needs a start price above 0']);
  t.deepEqual(issues({ QT_FEED_SYMBOLS: 'BTCUSDT:1,ETHUSDT:2,BTCUSDT:3' }), ['QT_FEED_SYMBOLS: lists BTCUSDT twice']);
  t.deepEqual(issues({ QT_PAPER_BALANCES: 'USDT:5,USDT:6' }), ['QT_PAPER_BALANCES: lists USDT twice']);
  t.deepEqual(issues({ QT_FEED_SYMBOLS: 'BTCUSDT' }), [
    'QT_FEED_SYMBOLS: each entry must be SYMBOL:startPrice, e.g. BTCUSDT:65000',
  ]);
  t.deepEqual(
    loadConfig({ QT_PAPER_BALANCES: 'USDT:0' }).exchange.paper.balances,
    { USDT: 0 },
    'an empty balance is fine',
  );
});

test('monitoring-health settings: the documented defaults', (t) => {
  t.deepEqual(loadConfig({}).health, {
    intervalMs: 10_000,
    timeoutMs: 3_000,
    httpSlowMs: 500,
    redisSlowMs: 100,
    targets: {},
    webhookUrl: undefined,
    historyLimit: 500,
    thresholds: DEFAULT_PROBE_THRESHOLDS,
  });
  const c = loadConfig({ QT_HEALTH_STALE_FEED_MS: ' 1000 , 2000 ', QT_HEALTH_EXCHANGE_WEIGHT: '0.5,0.9' });
  t.deepEqual(c.health.thresholds.staleFeedMs, { degraded: 1_000, down: 2_000 });
  t.deepEqual(c.health.thresholds.exchangeWeight, { degraded: 0.5, down: 0.9 });
});

test('monitoring-health settings: a bad threshold pair, timeout, target or webhook names its key', (t) => {
  const issues = (env: NodeJS.ProcessEnv) => {
    const err = t.throws(() => loadConfig(env)) as QtError;
    t.is(err.code, 'QT_CONFIG_INVALID');
    return ((err.details?.issues ?? []) as { key: string; message: string }[]).map((i) => `${i.key}: ${i.message}`);
  };
  t.deepEqual(issues({ QT_HEALTH_STALE_FEED_MS: '5000' }), [
    'QT_HEALTH_STALE_FEED_MS: must be two numbers DEGRADED,DOWN, e.g. 5000,30000',
  ]);
  t.deepEqual(issues({ QT_HEALTH_LAG_ENTRIES: '30000,5000' }), ['QT_HEALTH_LAG_ENTRIES: needs 0 <= DEGRADED < DOWN']);
  t.deepEqual(issues({ QT_HEALTH_SEQUENCE_GAPS: '-1,5' }), ['QT_HEALTH_SEQUENCE_GAPS: needs 0 <= DEGRADED < DOWN']);
  t.deepEqual(issues({ QT_HEALTH_INTERVAL_MS: '2000', QT_HEALTH_TIMEOUT_MS: '2000' }), [
    'QT_HEALTH_TIMEOUT_MS: must be below QT_HEALTH_INTERVAL_MS',
  ]);
  // Unset, the timeout fits the interval: 80 % of a short one.
  t.is(loadConfig({ QT_HEALTH_INTERVAL_MS: '1000' }).health.timeoutMs, 800);
  t.is(loadConfig({ QT_HEALTH_INTERVAL_MS: '60000' }).health.timeoutMs, 3_000);
  t.deepEqual(issues({ QT_HEALTH_TARGETS: 'execution:http://10.0.0.5:9002' }), [
    'QT_HEALTH_TARGETS: entry "execution:http://10.0.0.5:9002" must be service=http://host:port',
  ]);
  t.deepEqual(issues({ QT_HEALTH_TARGETS: 'execution=http://a:1,execution=http://b:2' }), [
    'QT_HEALTH_TARGETS: names execution twice',
  ]);
  const webhook = t.throws(() => loadConfig({ QT_HEALTH_WEBHOOK_URL: 'ftp://hooks.example/xoxb-secret' })) as QtError;
  t.regex(webhook.message, /QT_HEALTH_WEBHOOK_URL/);
  t.false(webhook.message.includes('xoxb-secret'), 'the webhook URL is a secret: not echoed');
});

test('a synthetic feed rate the feed cannot make is refused at start-up, not when the feed is built', (t) => {
  t.is(loadConfig({ QT_FEED_TICKS_PER_SECOND: '1000' }).feed.ticksPerSecond, 1000);
  const err = t.throws(() => loadConfig({ QT_FEED_TICKS_PER_SECOND: '2000' })) as QtError;
  t.true(isQtError(err, 'QT_CONFIG_INVALID'));
  t.deepEqual(
    ((err.details?.issues ?? []) as { key: string }[]).map((i) => i.key),
    ['QT_FEED_TICKS_PER_SECOND'],
  );
});
