import { startRedis, startSentinelGroup } from './support/redis-fixture.js';
const s = await startRedis({ name: 'leak', persistence: 'aof' });
await s.client().set('a', 'b');
const g = await startSentinelGroup({ replicas: 1, sentinels: 1, quorum: 1 });
console.log('pids', s.pid, g.master.pid, g.replicas[0]!.pid, g.sentinels[0]!.pid);
if (process.argv[2] === 'throw') throw new Error('crash');
