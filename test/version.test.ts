/**
 * The runtime's version comes from package.json, found from the module's own
 * location: from `src/` under tsx, and from the build output, which
 * tsconfig.build.json puts in `dist/` (rootDir `src`), or `dist/src/` were
 * the rootDir ever widened.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { packageJsonPath, packageVersion, VERSION } from '../src/version.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PACKAGE_JSON = join(ROOT, 'package.json');

async function readPackageVersion(): Promise<string> {
  return (JSON.parse(await readFile(PACKAGE_JSON, 'utf8')) as { version: string }).version;
}

async function tempDir(t: { teardown(fn: () => Promise<void>): void }, label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `qt-version-${label}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('VERSION is package.json’s version, read from src/ under tsx', async (t) => {
  t.is(VERSION, await readPackageVersion());
  t.is(packageJsonPath(new URL('../src/version.ts', import.meta.url).href), PACKAGE_JSON);
});

test('the nearest package.json above the module is used, at any depth (src/, dist/, dist/src/)', async (t) => {
  const root = await tempDir(t, 'layout');
  await writeFile(join(root, 'package.json'), JSON.stringify({ name: 'x', version: '9.8.7-layout' }));
  for (const dir of ['src', 'dist', 'dist/src']) {
    await mkdir(join(root, dir), { recursive: true });
    const moduleUrl = pathToFileURL(join(root, dir, 'version.js')).href;
    t.is(packageVersion(moduleUrl), '9.8.7-layout', dir);
    t.is(packageJsonPath(moduleUrl), join(root, 'package.json'), dir);
  }
});

test('a package.json that is not JSON or has no version is QT_PACKAGE_UNREADABLE', async (t) => {
  const root = await tempDir(t, 'broken');
  await mkdir(join(root, 'dist'));
  const moduleUrl = pathToFileURL(join(root, 'dist', 'version.js')).href;
  await writeFile(join(root, 'package.json'), '{ not json');
  t.throws(() => packageVersion(moduleUrl), {
    code: 'QT_PACKAGE_UNREADABLE',
    message: /is not readable JSON/,
  } as never);
  await writeFile(join(root, 'package.json'), JSON.stringify({ name: 'x' }));
  t.throws(() => packageVersion(moduleUrl), { code: 'QT_PACKAGE_UNREADABLE', message: /has no version/ } as never);
  await writeFile(join(root, 'package.json'), JSON.stringify({ name: 'x', version: ' ' }));
  t.throws(() => packageVersion(moduleUrl), { code: 'QT_PACKAGE_UNREADABLE' } as never);
});

test('built with tsconfig.build.json, the module reads the package.json above dist/ (and above dist/src/)', async (t) => {
  t.timeout(60_000);
  const root = await tempDir(t, 'built');
  await writeFile(join(root, 'package.json'), JSON.stringify({ name: 'x', version: '3.2.1-built' }));
  // The project's build options, narrowed to src/version.ts (tsc follows its imports).
  const config = {
    extends: join(ROOT, 'tsconfig.build.json'),
    compilerOptions: {
      rootDir: join(ROOT, 'src'),
      outDir: join(root, 'dist'),
      sourceMap: false,
      typeRoots: [join(ROOT, 'node_modules/@types')],
    },
    files: [join(ROOT, 'src/version.ts')],
    include: [],
  };
  await writeFile(join(root, 'tsconfig.json'), JSON.stringify(config));
  await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')]);
  await cp(join(root, 'dist'), join(root, 'wide/dist/src'), { recursive: true });
  await writeFile(join(root, 'wide/package.json'), JSON.stringify({ name: 'x', version: '3.2.2-wide' }));
  const versionOf = async (file: string) => {
    const script = `import(${JSON.stringify(pathToFileURL(file).href)}).then((m) => process.stdout.write(m.VERSION))`;
    // Plain node, no tsx: exactly what `node dist/main.js` runs.
    return (await run(process.execPath, ['--input-type=module', '-e', script], { cwd: root })).stdout;
  };
  t.is(await versionOf(join(root, 'dist/version.js')), '3.2.1-built');
  t.is(await versionOf(join(root, 'wide/dist/src/version.js')), '3.2.2-wide');
});
