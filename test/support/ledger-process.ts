import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./actor-child.ts', import.meta.url));

/** The ledger actor (test/support/actor-child.ts, producer `ledger-proc`) in its own process; its last printed count. */
export function startLedgerProcess(redisUrl: string, prefix: string): { child: ChildProcess; count: () => number } {
  const child = spawn(process.execPath, ['--import=tsx', CHILD, redisUrl, prefix], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let count = -1;
  child.stdout?.on('data', (d: Buffer) => {
    const m = /^count (\d+)$/.exec(String(d).trim().split('\n').at(-1) ?? '');
    if (m) count = Number(m[1]);
  });
  return { child, count: () => count };
}
