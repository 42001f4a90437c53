/**
 * Port claims of the simulator and the tests' `main` processes: an offset's
 * ports are claimed by files holding the pid, so processes that pick offsets
 * at the same moment cannot pick overlapping ones; a dead process's claim is
 * taken over, and a process's claims go when it exits.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { claimPorts, freeServiceOffset, PORT_CLAIMS_DIR } from '../../../scripts/simulate/ports.js';
import { SERVICES } from '../../../src/actors/services.js';

const bases = Object.values(SERVICES).map((s) => s.port);

test('offsets picked one after another never share a port, and each port is claimed by this process', async (t) => {
  const ports = new Set<number>();
  for (let i = 0; i < 5; i++) {
    const offset = await freeServiceOffset();
    for (const b of bases) {
      t.false(ports.has(b + offset), `port ${b + offset} given twice`);
      ports.add(b + offset);
      t.is(readFileSync(join(PORT_CLAIMS_DIR, String(b + offset)), 'utf8'), String(process.pid));
    }
  }
  t.false(claimPorts([...ports].slice(0, 1)), 'a port this process holds is not claimed again');
});

test('a claim held by a live process is respected; one whose process is gone is taken over; claims go at exit', async (t) => {
  const port = 39_000 + Math.floor(Math.random() * 500);
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
  t.teardown(() => other.kill('SIGKILL'));
  mkdirSync(PORT_CLAIMS_DIR, { recursive: true });
  writeFileSync(join(PORT_CLAIMS_DIR, String(port)), String(other.pid));
  t.false(claimPorts([port + 1, port]), 'held by a live process');
  t.false(existsSync(join(PORT_CLAIMS_DIR, String(port + 1))), 'all or nothing: the other port is not left claimed');
  other.kill('SIGKILL');
  await once(other, 'exit');
  t.true(claimPorts([port + 1, port]), 'its process is gone');
  t.is(readFileSync(join(PORT_CLAIMS_DIR, String(port)), 'utf8'), String(process.pid));

  // A child that claims and exits leaves no claim behind.
  const script = `import { claimPorts } from ${JSON.stringify(new URL('../../../scripts/simulate/ports.ts', import.meta.url).href)}; if (!claimPorts([${port + 2}])) process.exit(9);`;
  const child = spawn(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], { stdio: 'inherit' });
  const [code] = (await once(child, 'exit')) as [number];
  t.is(code, 0);
  t.false(existsSync(join(PORT_CLAIMS_DIR, String(port + 2))), 'released when the claiming process exited');
});
