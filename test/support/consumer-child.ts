/**
 * A consumer in its own process, so a test can SIGKILL it mid-handler.
 * argv: redisUrl prefix topic group consumer
 * It prints `handling <seq>` when a handler starts, then hangs forever in
 * the handler of the first event.
 */
import { Redis } from 'ioredis';
import { StreamConsumer } from '../../src/streams/consumer.js';
import { createKeys } from '../../src/streams/keys.js';

const [url, prefix, topic, group, consumer] = process.argv.slice(2) as [string, string, string, string, string];
const redis = new Redis(url);
const c = new StreamConsumer({
  redis,
  keys: createKeys(prefix),
  topic,
  group,
  consumer,
  blockMs: 200,
  handler: async (event) => {
    process.stdout.write(`handling ${event.seq}\n`);
    await new Promise(() => {});
  },
});
await c.start();
process.stdout.write('ready\n');
