/**
 * The producer side of the crash guarantee (docs/architecture.md §5, §6):
 * the publishing process itself is SIGKILLed, then started again on the same
 * disk buffer file. Every event must reach the stream exactly once, in
 * per-producer order, with consecutive seqs.
 *
 * The producers are real child processes (test/support/publisher-child.ts)
 * talking to a real redis-server; nothing is mocked.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import type { Redis } from 'ioredis';
import { DiskBuffer } from '../../src/buffer/disk-buffer.js';
import { loadConfig } from '../../src/config/load.js';
import type { Envelope } from '../../src/events/envelope.js';
import { decodeEntry } from '../../src/streams/codec.js';
import { createRedis } from '../../src/streams/connection.js';
import { type SequenceGap, StreamConsumer } from '../../src/streams/consumer.js';
import { bufferPath } from '../../src/streams/event-bus.js';
import { createKeys } from '../../src/streams/keys.js';
import { uniquePrefix, waitFor } from '../support/bus.js';
import { type RedisServer, startRedis } from '../support/redis-fixture.js';

const CHILD = fileURLToPath(new URL('../support/publisher-child.ts', import.meta.url));
const TOPIC = 'market';
const PRODUCER = 'crashy-producer';

/** A publisher-child process and the lines it has printed so far. */
class Child {
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #proc: ChildProcess;
  #partial = '';

  constructor(
    readonly name: string,
    env: NodeJS.ProcessEnv,
    args: string[],
  ) {
    this.#proc = spawn(process.execPath, ['--import=tsx', CHILD, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // 'close', not 'exit': by then every line the child wrote has been read.
    this.exited = new Promise((resolve) => this.#proc.once('close', (code, signal) => resolve({ code, signal })));
    this.#proc.stdout?.on('data', (chunk: Buffer) => {
      const parts = (this.#partial + chunk.toString('utf8')).split('\n');
      this.#partial = parts.pop() ?? '';
      this.lines.push(...parts);
    });
    this.#proc.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString('utf8');
    });
  }

  get pid(): number | undefined {
    return this.#proc.pid;
  }

  get running(): boolean {
    return this.#proc.exitCode === null && this.#proc.signalCode === null;
  }

  /**
   * The first line at index >= `from` matching `pattern` (and `accept`), waiting up to `timeoutMs`.
   * Fails early, with the child's stderr, if the child exits first.
   */
  async line(
    pattern: RegExp,
    what: string,
    timeoutMs: number,
    { from = 0, accept = () => true }: { from?: number; accept?: (m: RegExpExecArray) => boolean } = {},
  ): Promise<{ match: RegExpExecArray; index: number }> {
    let found: { match: RegExpExecArray; index: number } | undefined;
    let scanned = from;
    try {
      await waitFor(
        () => {
          for (; scanned < this.lines.length; scanned++) {
            const match = pattern.exec(this.lines[scanned] as string);
            if (match && accept(match)) {
              found = { match, index: scanned };
              return true;
            }
          }
          if (!this.running) throw new Error(`${this.name} exited while waiting for ${what}`);
          return false;
        },
        `${this.name}: ${what}`,
        timeoutMs,
        5,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- ${this.name} stderr ---\n${this.stderr.slice(-2_000)}`);
    }
    return found as { match: RegExpExecArray; index: number };
  }

  /** The last line matching `pattern`, if any. */
  last(pattern: RegExp): RegExpExecArray | undefined {
    for (let i = this.lines.length - 1; i >= 0; i--) {
      const m = pattern.exec(this.lines[i] as string);
      if (m) return m;
    }
    return undefined;
  }

  async kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.#proc.kill(signal);
    return this.exited;
  }
}

interface Setup {
  server: RedisServer;
  prefix: string;
  dataDir: string;
  spawnChild(name: string, args: string[]): Child;
}

/** A Redis server, a data dir, and children that are all SIGKILLed and removed in teardown, even on failure. */
async function setup(t: ExecutionContext, label: string, persistence: 'none' | 'aof'): Promise<Setup> {
  const server = await startRedis({ name: label, persistence });
  const dataDir = await mkdtemp(join(tmpdir(), `qt-${label}-`));
  const children: Child[] = [];
  t.teardown(async () => {
    await Promise.all(children.map((c) => c.kill('SIGKILL')));
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  const prefix = uniquePrefix(label);
  const env: NodeJS.ProcessEnv = {};
  // Only the settings given here: nothing from the developer's QT_* / REDIS_* environment leaks in.
  for (const [k, v] of Object.entries(process.env)) if (!/^(QT_|REDIS_)/.test(k)) env[k] = v;
  Object.assign(env, {
    REDIS_URL: server.url,
    QT_DATA_DIR: dataDir,
    QT_KEY_PREFIX: prefix,
    REDIS_BREAKER_HALF_OPEN_MS: '300',
    REDIS_COMMAND_TIMEOUT_MS: '1000',
    REDIS_WAIT_TIMEOUT_MS: '250',
  });
  return {
    server,
    prefix,
    dataDir,
    spawnChild: (name, args) => {
      const child = new Child(name, env, args);
      children.push(child);
      return child;
    },
  };
}

/**
 * Waits until Redis has dropped a killed child's connection. A command the child wrote just before
 * it died can still be executed after its exit; once the client is gone, nothing more of it will be.
 */
async function connectionGone(redis: Redis, child: Child): Promise<void> {
  await waitFor(async () => !(await connected(redis, child)), `${child.name}'s connection gone`, 10_000);
}

/** Whether the child's named connection is open on the server. */
async function connected(redis: Redis, child: Child): Promise<boolean> {
  return String(await redis.client('LIST')).includes(`name=publisher-child-${child.pid} `);
}

/** Every entry of a stream, decoded. */
async function readStream(redis: Redis, stream: string): Promise<Envelope[]> {
  const out: Envelope[] = [];
  let start = '-';
  for (;;) {
    const page = await redis.xrange(stream, start, '+', 'COUNT', 5_000);
    for (const [, fields] of page) out.push(decodeEntry(fields));
    if (page.length < 5_000) return out;
    start = `(${page.at(-1)?.[0]}`;
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const priceOf = (e: Envelope) => (e.data as { price: number }).price;

test.serial('SIGKILL the producer mid-replay, restart it on the same buffer: every event once, in order', async (t) => {
  const N = 30_000; // a replay of this takes a few hundred ms: room to SIGKILL in the middle
  const K = 50; // published by the second process after its replay, directly
  const { server, prefix, dataDir, spawnChild } = await setup(t, 'producer-crash', 'aof');
  const config = loadConfig({ REDIS_URL: server.url, QT_DATA_DIR: dataDir, QT_KEY_PREFIX: prefix });
  const keys = createKeys(prefix);
  const stream = keys.stream(TOPIC);

  // 1. Redis is down while the first process publishes: every publish resolves via the disk buffer.
  await server.kill();
  const first = spawnChild('first child', [PRODUCER, 'now', '1', String(N)]);
  const published = await first.line(/^published n=(\d+) buffer=(\d+)/, `${N} publishes resolved`, 30_000);
  t.is(Number(published.match[1]), N);
  t.is(Number(published.match[2]), N, 'all of them via the buffer (Redis was down)');
  const down = await first.line(/^backlog=(\d+) redis=(\w+)$/, 'progress', 5_000, { from: published.index });
  t.is(Number(down.match[1]), N, 'all N rows are in the buffer');
  t.not(down.match[2], 'ready', 'and Redis is still down');

  // 2. Redis comes back (AOF: the stream will survive); a consumer group follows along from here on.
  await server.restart();
  const redis = createRedis(config);
  redis.on('error', () => undefined);
  await redis.connect();
  t.teardown(() => redis.disconnect());
  const seen: Envelope[] = [];
  const gaps: SequenceGap[] = [];
  const consumer = new StreamConsumer({
    redis,
    keys,
    topic: TOPIC,
    group: 'check',
    consumer: 'checker',
    blockMs: 200,
    handler: (e) => void seen.push(e),
    onGap: (g) => void gaps.push(g),
  });
  await consumer.start();
  t.teardown(() => consumer.close());

  // 3. The first process replays its buffer; SIGKILL it once its backlog is well inside (0, N).
  const killAt = N - 2_000;
  const mid = await first.line(/^backlog=(\d+) redis=ready$/, 'replay under way', 30_000, {
    from: published.index,
    accept: (m) => Number(m[1]) > 0 && Number(m[1]) <= killAt,
  });
  t.true(await connected(redis, first), 'the first child is connected (so connectionGone() means something)');
  const exit = await first.kill('SIGKILL');
  t.is(exit.signal, 'SIGKILL');
  await connectionGone(redis, first);
  const lastBacklog = Number(first.last(/^backlog=(\d+)/)?.[1]);
  const inRedisAtKill = await redis.xlen(stream);
  const redisSeqAtKill = Number(await redis.hget(keys.producerSeqs(TOPIC), PRODUCER));
  t.log(
    `first child: killed at printed backlog ${mid.match[1]} (last printed ${lastBacklog}); ` +
      `${inRedisAtKill} of ${N} replayed before the kill, ${N - inRedisAtKill} left`,
  );
  t.true(inRedisAtKill > 0 && inRedisAtKill < N, `killed mid-replay (${inRedisAtKill} of ${N} in Redis)`);
  t.is(redisSeqAtKill, inRedisAtKill, 'Redis holds seqs 1..n of the producer, nothing else');

  // 4. A second process with the same producer id and data dir takes over the same buffer file.
  const second = spawnChild('second child', [PRODUCER, 'after-drain', String(N + 1), String(N + K)]);
  const opened = await second.line(/^open backlog=(\d+) inDoubt=(\d+) maxSeq=(\d+)$/, 'buffer opened', 20_000);
  const [backlogAtOpen, inDoubtAtOpen, maxSeqAtOpen] = opened.match.slice(1).map(Number) as [number, number, number];
  const presentInDoubt = backlogAtOpen - (N - inRedisAtKill);
  t.log(
    `second child: opened the buffer with ${backlogAtOpen} rows, ${inDoubtAtOpen} of them in doubt ` +
      `(max seq ${maxSeqAtOpen}); ${presentInDoubt} of those were already in Redis`,
  );
  t.true(backlogAtOpen > 0 && backlogAtOpen < N, 'the dead process left part of the backlog');
  t.true(presentInDoubt >= 0 && presentInDoubt <= inDoubtAtOpen, 'only in-doubt rows can already be in Redis');

  const after = await second.line(
    /^published n=(\d+) buffer=(\d+) redis=(\d+) firstSeq=(\d+) lastSeq=(\d+)$/,
    'replay, then K publishes',
    30_000,
  );
  t.deepEqual(
    after.match.slice(1).map(Number),
    [K, 0, K, N + 1, N + K],
    'after the replay, direct publishes continue the seqs',
  );
  const metrics = await second.line(/^metrics replayed=(\d+) present=(\d+) absent=(\d+)$/, 'drainer metrics', 5_000, {
    from: after.index,
  });
  const [replayed, present, absent] = metrics.match.slice(1).map(Number) as [number, number, number];
  t.log(
    `second child: replayed ${replayed} rows; in-doubt checks: ${present} already present (skipped), ${absent} absent (sent)`,
  );
  t.is(replayed, backlogAtOpen, 'the second process replayed exactly what it found');
  t.is(present, presentInDoubt, 'in-doubt rows Redis already had were skipped, not re-added');
  t.is(present + absent, inDoubtAtOpen);

  // 5. Every event exactly once, in order: in the stream itself and at the consumer group.
  const total = N + K;
  await waitFor(() => seen.length >= total, `${total} events at the consumer (have ${seen.length})`, 30_000, 20);
  await new Promise((r) => setTimeout(r, 300)); // anything extra would show up now
  const entries = await readStream(redis, stream);
  t.is(await redis.xlen(stream), total, 'the stream holds each event once (no in-doubt re-send duplicated one)');
  t.deepEqual(entries.map(priceOf), range(1, total), 'stream: every price once, in publish order');
  t.deepEqual(
    entries.map((e) => e.seq),
    range(1, total),
    'stream: seqs 1..N+K, consecutive',
  );
  t.true(
    entries.every((e) => e.producer === PRODUCER),
    'one producer',
  );
  t.is(new Set(entries.map((e) => e.id)).size, total, 'distinct event ids');
  t.is(seen.length, total, 'consumer: no event twice');
  t.deepEqual(seen.map(priceOf), range(1, total), 'consumer: publish order kept');
  t.deepEqual(gaps, [], 'consumer: no seq gap');
  t.deepEqual(await redis.hgetall(keys.gaps(TOPIC)), {}, 'no gap recorded on append');

  // 6. The second process closes cleanly; the buffer file is empty and free to open.
  t.is((await second.kill('SIGTERM')).code, 0);
  t.true(second.lines.includes('closed'), 'closed gracefully');
  const buffer = DiskBuffer.open({ path: bufferPath(config, PRODUCER) });
  t.is(buffer.stats().rows, 0, 'the buffer ends empty');
  await buffer.close();
});

test.serial('SIGKILL the producer mid-burst with Redis up: resolved events are in Redis once, in order', async (t) => {
  const K = 100;
  const { server, prefix, dataDir, spawnChild } = await setup(t, 'producer-burst', 'none');
  const config = loadConfig({ REDIS_URL: server.url, QT_DATA_DIR: dataDir, QT_KEY_PREFIX: prefix });
  const keys = createKeys(prefix);
  const stream = keys.stream(TOPIC);
  const redis = createRedis(config);
  redis.on('error', () => undefined);
  await redis.connect();
  t.teardown(() => redis.disconnect());

  // 1. A continuous burst of direct publishes; SIGKILL while batches are in flight.
  const first = spawnChild('burst child', [PRODUCER, 'burst', '1']);
  await first.line(/^resolved=(\d+) called=\d+$/, 'burst under way', 30_000, { accept: (m) => Number(m[1]) >= 5_000 });
  t.true(await connected(redis, first));
  t.is((await first.kill('SIGKILL')).signal, 'SIGKILL');
  await connectionGone(redis, first);
  const last = first.last(/^resolved=(\d+) called=(\d+)$/);
  const [resolved, called] = [Number(last?.[1]), Number(last?.[2])];
  const atKill = await readStream(redis, stream);
  const inRedis = atKill.length;
  t.log(
    `burst child: last printed before the kill: ${resolved} resolved, ${called - resolved} more in flight; ` +
      `${inRedis} events in Redis`,
  );
  t.true(inRedis >= resolved, 'every resolved publish is in Redis');
  t.deepEqual(atKill.map(priceOf), range(1, inRedis), 'a gap-free prefix of the calls, in order, each once');
  t.deepEqual(
    atKill.map((e) => e.seq),
    range(1, inRedis),
  );

  // 2. Restarted on the same buffer file, it continues after what Redis has, without a gap.
  const second = spawnChild('restarted child', [PRODUCER, 'after-drain', String(1_000_001), String(1_000_000 + K)]);
  const opened = await second.line(/^open backlog=(\d+)/, 'buffer opened', 20_000);
  t.is(Number(opened.match[1]), 0, 'nothing was buffered');
  const pub = await second.line(
    /^published n=(\d+) buffer=(\d+) redis=(\d+) firstSeq=(\d+) lastSeq=(\d+)$/,
    'K publishes',
    20_000,
  );
  t.deepEqual(pub.match.slice(1).map(Number), [K, 0, K, inRedis + 1, inRedis + K]);
  const entries = await readStream(redis, stream);
  t.is(entries.length, inRedis + K);
  t.deepEqual(entries.map(priceOf), [...range(1, inRedis), ...range(1_000_001, 1_000_000 + K)]);
  t.deepEqual(
    entries.map((e) => e.seq),
    range(1, inRedis + K),
    'seqs consecutive across the crash',
  );
  t.is(new Set(entries.map((e) => e.id)).size, entries.length, 'distinct event ids');
  t.deepEqual(await redis.hgetall(keys.gaps(TOPIC)), {});
  t.is((await second.kill('SIGTERM')).code, 0);
});
