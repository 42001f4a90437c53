/**
 * The folder dependency rule (.dependency-cruiser.cjs; docs/architecture.md,
 * "Layout") holds for src/, and the rule itself catches an upward import and
 * an import cycle.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = join(ROOT, 'node_modules', '.bin', 'depcruise');

interface Violation {
  readonly from: string;
  readonly to: string;
  readonly rule: { readonly name: string };
}

/** Runs depcruise on `src` under `cwd`; its violations. */
async function cruise(cwd: string): Promise<Violation[]> {
  const { stdout } = await run(DEPCRUISE, ['src', '--config', CONFIG, '--output-type', 'json'], {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
  }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  return (JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

test('src/ has no upward import and no import cycle', async (t) => {
  const violations = await cruise(ROOT);
  t.deepEqual(
    violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`),
    [],
  );
});

test('the rule catches an upward import, a cycle and a file outside every layer', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'qt-arch-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const files: Record<string, string> = {
    'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext' } }),
    'src/events/catalog.ts': "import { publish } from '../streams/publisher.js';\nexport const x = publish;\n",
    'src/streams/publisher.ts': "import { drain } from './drainer.js';\nexport const publish = drain;\n",
    'src/streams/drainer.ts': "import { publish } from './publisher.js';\nexport const drain = () => publish;\n",
    'src/stray/thing.ts': "import { x } from '../events/catalog.js';\nexport const y = x;\n",
  };
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  const rules = new Set((await cruise(dir)).map((v) => `${v.rule.name}: ${v.from} → ${v.to}`));
  t.true(rules.has('layer-events: src/events/catalog.ts → src/streams/publisher.ts'), [...rules].join('\n'));
  t.true(
    [...rules].some((r) => r.startsWith('no-circular: src/streams/')),
    [...rules].join('\n'),
  );
  t.true(rules.has('src-in-a-layer: src/stray/thing.ts → src/events/catalog.ts'), [...rules].join('\n'));
});
