/**
 * `npm ci` on the Node the README names prints no engine warning: every
 * package in the lock file accepts Node 20.19 (the README's minimum) and the
 * Node running the tests.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import test from 'ava';
import semver from 'semver';

const ROOT = resolve(import.meta.dirname, '..');
const lock = JSON.parse(readFileSync(resolve(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[]; dev?: boolean }>;
};
const own = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };

test('every locked package accepts the Node versions the README promises', (t) => {
  const minimum = semver.minVersion(own.engines.node)?.version ?? '';
  t.is(minimum, '20.19.0');
  const refused: string[] = [];
  let checked = 0;
  for (const [path, pkg] of Object.entries(lock.packages)) {
    const range = !Array.isArray(pkg.engines) ? pkg.engines?.node : undefined;
    if (!path || range === undefined) continue;
    checked++;
    for (const node of [minimum, process.versions.node]) {
      if (!semver.satisfies(node, range)) refused.push(`${path}@${pkg.version} needs node ${range}, not ${node}`);
    }
  }
  t.true(checked > 50, `only ${checked} packages declare engines`);
  t.deepEqual(refused, []);
});
