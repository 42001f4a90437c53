/**
 * An actor host in its own process, so a test can SIGKILL it mid-stream.
 * argv: redisUrl prefix. Prints `count <n>` every 20 ms.
 */
import { Redis } from 'ioredis';
import { ActorHost } from '../../src/actors/host.js';
import { createKeys } from '../../src/streams/keys.js';
import { ledgerSpec } from './ledger-machine.js';

const [url, prefix] = process.argv.slice(2) as [string, string];
const redis = new Redis(url);
const host = new ActorHost({
  spec: ledgerSpec,
  redis,
  keys: createKeys(prefix),
  producer: 'ledger-proc',
  source: 'test',
  consumer: 'ledger-1',
  consumerOptions: { blockMs: 100, readCount: 50 },
});
await host.start();
setInterval(() => process.stdout.write(`count ${host.snapshot.context.count}\n`), 20);
process.on('SIGTERM', () => {
  void host.close().then(() => process.exit(0));
});
