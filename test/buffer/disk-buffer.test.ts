/**
 * The disk buffer store (docs/architecture.md §6): group commit, order, durability across
 * reopen, and the backlog / oldest / assignSeqs / remove / maxSeq contract.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import { Registry } from 'prom-client';
import { DiskBuffer, GROUP_COMMIT_MAX_ROWS } from '../../src/buffer/disk-buffer.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from '../../src/buffer/migrations.js';
import type { BufferedRow } from '../../src/buffer/types.js';
import { isQtError } from '../../src/errors.js';
import { event, nOf, tempBufferPath } from './helpers.js';

/** A clock that moves only when told, so createdAt and ages are exact. */
function manualClock(start = 1_700_000_000_000) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

test('open creates parent directories and a stable instance id kept across reopen', async (t) => {
  const path = join(dirname(tempBufferPath(t)), 'a', 'b', 'buffer.db');
  const first = DiskBuffer.open({ path });
  t.regex(first.instanceId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  t.is(first.path, path);
  await first.close();
  const again = DiskBuffer.open({ path });
  t.is(again.instanceId, first.instanceId);
  await again.close();
});

test('concurrent appends share a few transactions and keep call order across calls', async (t) => {
  let nowCalls = 0;
  const buffer = DiskBuffer.open({ path: tempBufferPath(t), now: () => 1_000 + nowCalls++ });
  const calls: Promise<void>[] = [];
  for (let i = 0; i < 1000; i++) {
    calls.push(buffer.append(i % 10 === 0 ? [event('market', i), event('order', i)] : [event('market', i)]));
  }
  await Promise.all(calls);
  const market = buffer.oldest('market', 10_000);
  t.deepEqual(
    market.map(nOf),
    Array.from({ length: 1000 }, (_, i) => i),
  );
  // now() is read once per group commit: one distinct createdAt per transaction.
  const commits = new Set([...market, ...buffer.oldest('order', 10_000)].map((r) => r.createdAt));
  t.is(commits.size, 1, 'one turn of the event loop, one transaction');
  const ids = market.map((r) => r.id);
  t.deepEqual(
    ids,
    [...ids].sort((a, b) => a - b),
  );
  await buffer.close();
});

test('a large queue is committed at once, in several transactions, order kept', async (t) => {
  let nowCalls = 0;
  const buffer = DiskBuffer.open({ path: tempBufferPath(t), now: () => nowCalls++ });
  const calls: Promise<void>[] = [];
  const total = GROUP_COMMIT_MAX_ROWS * 2 + 10;
  for (let i = 0; i < total; i++) calls.push(buffer.append([event('market', i)]));
  t.is(buffer.oldest('market', 10).length, 10, 'rows past the threshold were committed synchronously');
  await Promise.all(calls);
  const rows = buffer.oldest('market', total);
  t.deepEqual(
    rows.map(nOf),
    Array.from({ length: total }, (_, i) => i),
  );
  t.is(new Set(rows.map((r) => r.createdAt)).size, 3);
  await buffer.close();
});

test('backlog counts accepted rows at once; oldest shows only committed rows', async (t) => {
  const buffer = DiskBuffer.open({ path: tempBufferPath(t) });
  t.is(buffer.backlog('market'), 0);
  t.deepEqual(buffer.topicsWithBacklog(), []);
  const pending = buffer.append([event('market', 1), event('market', 2), event('order', 3)]);
  t.is(buffer.backlog('market'), 2, 'counted before the commit');
  t.is(buffer.backlog('order'), 1);
  t.deepEqual(buffer.topicsWithBacklog().sort(), ['market', 'order']);
  t.deepEqual(buffer.oldest('market', 10), [], 'not committed yet');
  await pending;
  const rows = buffer.oldest('market', 10);
  t.deepEqual(
    rows.map((r) => ({ topic: r.topic, type: r.type, seq: r.seq, body: r.body })),
    [event('market', 1), event('market', 2)],
  );
  t.deepEqual(buffer.oldest('market', 1).map(nOf), [1], 'limit');
  t.deepEqual(buffer.oldest('nothing', 10), []);
  await buffer.close();
});

test('assignSeqs, maxSeq and remove', async (t) => {
  const buffer = DiskBuffer.open({ path: tempBufferPath(t) });
  await buffer.append([event('market', 1), event('market', 2, 41), event('market', 3), event('order', 4)]);
  t.is(buffer.maxSeq('market'), 41, 'seq given at append time');
  t.is(buffer.maxSeq('order'), undefined);
  const [a, b, c] = buffer.oldest('market', 10) as [BufferedRow, BufferedRow, BufferedRow];
  buffer.assignSeqs('market', [
    { id: c.id, seq: 43 },
    { id: a.id, seq: 40 },
  ]);
  t.deepEqual(
    buffer.oldest('market', 10).map((r) => r.seq),
    [40, 41, 43],
  );
  t.is(buffer.maxSeq('market'), 43);
  t.is(buffer.maxSeq('order'), undefined, 'per topic');

  buffer.remove([c.id, 999_999]);
  t.is(buffer.maxSeq('market'), 41, 'unknown ids are ignored');
  t.is(buffer.backlog('market'), 2);
  buffer.remove([c.id]);
  t.is(buffer.backlog('market'), 2, 'a repeated remove is harmless');
  buffer.remove([a.id, b.id]);
  t.is(buffer.backlog('market'), 0);
  t.is(buffer.maxSeq('market'), undefined);
  t.deepEqual(buffer.topicsWithBacklog(), ['order']);
  t.is(buffer.stats().rows, 1);
  await buffer.close();
});

test('assigned seqs are kept as runs: every row gets its own back, also after a reopen, and a partial delete keeps the rest', async (t) => {
  const path = tempBufferPath(t);
  const buffer = DiskBuffer.open({ path });
  // Interleaved topics: the market rows' ids are not consecutive, so they make more than one run.
  await buffer.append([
    event('market', 1),
    event('market', 2),
    event('order', 3),
    event('market', 4),
    event('market', 5, 77),
    event('market', 6),
  ]);
  const rows = buffer.oldest('market', 10);
  const fresh = rows.filter((r) => r.seq === null);
  t.is(fresh.length, 4);
  buffer.assignSeqs(
    'market',
    fresh.map((r, i) => ({ id: r.id, seq: 100 + i })),
  );
  const expected = rows.map((r) => (r.seq === null ? 100 + fresh.indexOf(r) : r.seq));
  t.deepEqual(expected, [100, 101, 102, 77, 103]);
  t.deepEqual(
    buffer.oldest('market', 10).map((r) => r.seq),
    expected,
  );
  t.deepEqual(
    buffer.oldest('order', 10).map((r) => r.seq),
    [null],
    'another topic is untouched, even with ids inside a run',
  );
  t.is(buffer.maxSeq('market'), 103);
  await buffer.close();

  const reopened = DiskBuffer.open({ path });
  t.deepEqual(
    reopened.oldest('market', 10).map((r) => r.seq),
    expected,
    'durable: a drainer restarted after a crash sends the same seqs',
  );
  const [, second] = reopened.oldest('market', 2) as [BufferedRow, BufferedRow];
  reopened.removeThrough('market', second.id);
  t.deepEqual(
    reopened.oldest('market', 10).map((r) => r.seq),
    [102, 77, 103],
    'rows left after a partial delete keep their seqs',
  );
  t.is(reopened.maxSeq('market'), 103);
  reopened.removeThrough('market', (reopened.oldest('market', 10).at(-1) as BufferedRow).id);
  t.is(reopened.maxSeq('market'), undefined, 'the runs go with their rows');
  t.is(reopened.backlog('market'), 0);
  await reopened.close();
});

test('a file of schema 1 (seqs only in the rows) is migrated on open and keeps its rows and seqs', async (t) => {
  const path = tempBufferPath(t);
  const v1 = new Database(path);
  v1.pragma('journal_mode = WAL');
  v1.transaction(() => {
    MIGRATIONS[0]!.up(v1);
    v1.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', '1')").run();
    const insert = v1.prepare(
      'INSERT INTO events (topic, type, seq, body, size, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    insert.run('market', 'market.tested', 7, '{"n":1}', 10, 1_000);
    insert.run('market', 'market.tested', null, '{"n":2}', 10, 1_000);
  })();
  v1.close();

  const buffer = DiskBuffer.open({ path });
  t.deepEqual(
    buffer.oldest('market', 10).map((r) => r.seq),
    [7, null],
  );
  const [, fresh] = buffer.oldest('market', 10) as [BufferedRow, BufferedRow];
  buffer.assignSeqs('market', [{ id: fresh.id, seq: 8 }]);
  t.deepEqual(
    buffer.oldest('market', 10).map((r) => r.seq),
    [7, 8],
  );
  await buffer.close();
  const check = new Database(path, { readonly: true });
  t.is(
    check.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get(),
    String(LATEST_SCHEMA_VERSION),
  );
  check.close();
});

test('ids are never reused, even after the buffer empties and reopens', async (t) => {
  const path = tempBufferPath(t);
  const buffer = DiskBuffer.open({ path });
  await buffer.append([event('market', 1), event('market', 2)]);
  const firstIds = buffer.oldest('market', 10).map((r) => r.id);
  buffer.remove(firstIds);
  await buffer.close();
  const reopened = DiskBuffer.open({ path });
  await reopened.append([event('market', 3)]);
  const [row] = reopened.oldest('market', 10);
  t.true(row!.id > Math.max(...firstIds));
  await reopened.close();
});

test('rows, backlogs, seqs and bytes survive close and reopen', async (t) => {
  const path = tempBufferPath(t);
  const clock = manualClock();
  const buffer = DiskBuffer.open({ path, now: clock.now });
  await buffer.append([event('market', 1), event('order', 2, 7)]);
  await buffer.append([event('market', 3)]);
  const before = buffer.stats();
  await buffer.close();

  clock.advance(5_000);
  const reopened = DiskBuffer.open({ path, now: clock.now });
  t.is(reopened.backlog('market'), 2);
  t.is(reopened.backlog('order'), 1);
  t.deepEqual(reopened.oldest('market', 10).map(nOf), [1, 3]);
  t.is(reopened.maxSeq('order'), 7);
  t.deepEqual(reopened.stats(), { rows: 3, bytes: before.bytes, oldestAgeMs: 5_000, appended: 0 });
  await reopened.close();
});

test('stats count UTF-8 bytes of topic, type and body and the age of the oldest row', async (t) => {
  const clock = manualClock();
  const buffer = DiskBuffer.open({ path: tempBufferPath(t), now: clock.now });
  t.deepEqual(buffer.stats(), { rows: 0, bytes: 0, oldestAgeMs: undefined, appended: 0 });
  await buffer.append([{ topic: 'mkt', type: 'mkt.é', seq: null, body: '{"p":"€"}' }]);
  clock.advance(1_500);
  await buffer.append([{ topic: 'mkt', type: 'mkt.x', seq: null, body: '{}' }]);
  // 3 + 6 + 11, then 3 + 5 + 2
  t.deepEqual(buffer.stats(), { rows: 2, bytes: 30, oldestAgeMs: 1_500, appended: 2 });
  await buffer.close();
});

test('an append with an invalid event writes nothing of that call', async (t) => {
  const buffer = DiskBuffer.open({ path: tempBufferPath(t) });
  const good = buffer.append([event('market', 1)]);
  const bad = buffer.append([event('market', 2), { topic: 'market', type: 'x', seq: 1.5, body: '{}' }]);
  await t.throwsAsync(bad, { code: 'QT_BUFFER_ROW_INVALID' } as never);
  await good;
  t.deepEqual(buffer.oldest('market', 10).map(nOf), [1]);
  t.is(buffer.backlog('market'), 1);
  await buffer.close();
});

test('close commits accepted appends; afterwards the buffer refuses use; close is idempotent', async (t) => {
  const path = tempBufferPath(t);
  const buffer = DiskBuffer.open({ path });
  const pending = buffer.append([event('market', 1)]);
  const closing = buffer.close();
  t.is(buffer.close(), closing, 'same promise');
  await closing;
  await pending;
  const err = await t.throwsAsync(buffer.append([event('market', 2)]));
  t.true(isQtError(err, 'QT_BUFFER_CLOSED'));
  for (const use of [
    () => buffer.oldest('market', 1),
    () => buffer.remove([1]),
    () => buffer.assignSeqs('market', [{ id: 1, seq: 1 }]),
    () => buffer.maxSeq('market'),
    () => buffer.stats(),
  ]) {
    t.true(isQtError(t.throws(use), 'QT_BUFFER_CLOSED'));
  }
  const reopened = DiskBuffer.open({ path });
  t.deepEqual(reopened.oldest('market', 10).map(nOf), [1]);
  await reopened.close();
});

test('invalid options are refused with QT_CONFIG_INVALID before the file is created', (t) => {
  const path = tempBufferPath(t);
  for (const bad of [{ maxRows: 0 }, { maxBytes: -1 }, { blockTimeoutMs: 1.5 }, { whenFull: 'drop' as 'block' }]) {
    const err = t.throws(() => DiskBuffer.open({ path, ...bad }));
    t.true(isQtError(err, 'QT_CONFIG_INVALID'), JSON.stringify(bad));
  }
  t.false(existsSync(path));
});

test('metrics: rows, bytes, oldest age and appends, shared by buffers of one registry', async (t) => {
  const registry = new Registry();
  const clock = manualClock();
  const one = DiskBuffer.open({ path: tempBufferPath(t, 'one.db'), registry, now: clock.now });
  const two = DiskBuffer.open({ path: tempBufferPath(t, 'two.db'), registry, now: clock.now });
  await one.append([event('market', 1), event('market', 2)]);
  await two.append([{ topic: 'a', type: 'a.b', seq: null, body: 'xyz' }]);
  clock.advance(2_500);
  const value = async (name: string) => (await registry.getSingleMetric(name)!.get()).values[0]?.value;
  t.is(await value('eventbus_buffer_rows'), 3);
  t.is(await value('eventbus_buffer_bytes'), one.stats().bytes + 7);
  t.is(await value('eventbus_buffer_oldest_age_seconds'), 2.5);
  t.is(await value('eventbus_buffer_appends_total'), 3);
  await one.close();
  t.is(await value('eventbus_buffer_rows'), 1, 'a closed buffer leaves the gauges');
  await two.close();
  t.is(await value('eventbus_buffer_oldest_age_seconds'), 0);
});
