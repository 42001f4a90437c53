/**
 * The repository explains itself: the docs describe what the code has, every
 * link and file path in them resolves inside the repository, citations of
 * docs/architecture.md name a section it has, and nothing points at a design
 * file outside the repository.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import test from 'ava';
import { EnvSchema } from '../src/config/schema.js';
import { EVENT_TYPES } from '../src/events/catalog.js';

const ROOT = resolve(import.meta.dirname, '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** Files under `dir` (relative to the root) whose names end with one of `exts`. */
function filesUnder(dir: string, exts: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(ROOT, rel))) {
      const child = join(rel, name);
      if (statSync(join(ROOT, child)).isDirectory()) walk(child);
      else if (exts.some((e) => name.endsWith(e))) out.push(child.split(sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

const MARKDOWN = ['README.md', ...filesUnder('docs', ['.md'])];
const SOURCES = ['src', 'test', 'bench', 'scripts'].flatMap((d) => filesUnder(d, ['.ts', '.cjs', '.js']));

/** True when `target` (relative to the root) is a file or folder inside the repository. */
function insideRepo(target: string): boolean {
  const rel = relative(ROOT, resolve(ROOT, target));
  return rel !== '' && !rel.startsWith('..') && !rel.startsWith(sep) && existsSync(join(ROOT, rel));
}

/** GitHub's anchor for a heading: lower case, punctuation (`§`, `.`, backticks, `/`) dropped, spaces to `-`. */
function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors of a markdown file's headings (outside code fences), with GitHub's `-1`, `-2` for repeats. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = fenced ? null : /^#{1,6} (.+)$/.exec(line);
    if (!m) continue;
    const base = headingAnchor(m[1] as string);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Markdown without its fenced code blocks (diagrams, examples). */
const withoutFences = (markdown: string) => markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '');

/** The inline links `[text](target)` of a markdown file, external ones left out. */
function localLinks(markdown: string): string[] {
  return [...withoutFences(markdown).matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1] as string)
    .filter((target) => !/^[a-z][a-z+.-]*:/i.test(target));
}

/** Repository paths written as code (`src/...ts`) in a markdown file; patterns and placeholders left out. */
function codePaths(markdown: string): string[] {
  return [...withoutFences(markdown).matchAll(/`((?:src|test|bench|scripts|docs|data)\/[^`\s]*)`/g)]
    .map((m) => m[1] as string)
    .filter((p) => !/[*<>{}$]/.test(p) && !p.startsWith('bench/results/'));
}

/** Numbers of the sections of docs/architecture.md (`## §3 ...`, `### §5.1 ...`). */
function architectureSections(): Set<string> {
  return new Set([...read('docs/architecture.md').matchAll(/^#{2,3} §(\d+(?:\.\d+)?) /gm)].map((m) => m[1] as string));
}

/** Every `docs/architecture.md §n` (and `§m` following it in a list) cited in `text`. */
function architectureCitations(text: string): string[] {
  const cited: string[] = [];
  for (const m of text.matchAll(/architecture\.md(?:#[\w-]+)?\)?((?:[\s*/,:;]|and|§\d+(?:\.\d+)?)+)/g)) {
    for (const n of (m[1] as string).matchAll(/§(\d+(?:\.\d+)?)/g)) cited.push(n[1] as string);
  }
  return cited;
}

// What must not appear, spelt in pieces so that this file does not contain it (and a grep stays clean).
const OLD_CONTRACT = ['DES', 'IGN'].join('');
const OUTSIDE_REFERENCES = [['..', 'shared'].join('/'), `${OLD_CONTRACT}.md`];
const OLD_SECTION_CITATION = new RegExp(`${OLD_CONTRACT}\\s+§`);

test('docs/events.md describes every event type of the catalog, and no other', (t) => {
  const doc = read('docs/events.md');
  const documented = [...doc.matchAll(/^\| `([a-z]+\.[a-z_]+)` \|/gm)].map((m) => m[1]);
  t.deepEqual([...documented].sort(), [...EVENT_TYPES].sort());
});

test('docs/configuration.md documents every setting, and no other', (t) => {
  const doc = read('docs/configuration.md');
  const documented = [...doc.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
  t.deepEqual([...documented].sort(), Object.keys(EnvSchema.shape).sort());
});

test('the README links docs/architecture.md before any other docs page', (t) => {
  const links = localLinks(read('README.md')).filter((l) => l.startsWith('docs/'));
  t.is(links[0], 'docs/architecture.md');
});

test('every link in README.md and docs/ points at a file of the repository, and at a heading it has', (t) => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of MARKDOWN) {
    for (const link of localLinks(read(file))) {
      checked++;
      const [path = '', anchor] = link.split('#');
      const target = path === '' ? file : relative(ROOT, resolve(ROOT, dirname(file), path));
      if (!insideRepo(target)) {
        broken.push(`${file}: ${link} (no such file in the repository)`);
      } else if (anchor !== undefined && target.endsWith('.md') && !anchorsOf(read(target)).has(anchor)) {
        broken.push(`${file}: ${link} (no heading #${anchor} in ${target})`);
      }
    }
  }
  t.true(checked > 50, `only ${checked} links checked`);
  t.deepEqual(broken, []);
});

test('every repository path written as code in README.md and docs/ exists', (t) => {
  const missing: string[] = [];
  let checked = 0;
  for (const file of MARKDOWN) {
    for (const path of codePaths(read(file))) {
      checked++;
      if (!insideRepo(path)) missing.push(`${file}: ${path}`);
    }
  }
  t.true(checked > 50, `only ${checked} paths checked`);
  t.deepEqual(missing, []);
});

test('every citation of docs/architecture.md names a section it has', (t) => {
  const sections = architectureSections();
  t.true(sections.has('1') && sections.has('5.6') && sections.size > 40, `sections found: ${[...sections]}`);
  const wrong: string[] = [];
  let checked = 0;
  for (const file of [...MARKDOWN, ...SOURCES]) {
    for (const n of architectureCitations(read(file))) {
      checked++;
      if (!sections.has(n)) wrong.push(`${file}: §${n}`);
    }
  }
  t.true(checked > 50, `only ${checked} citations checked`);
  t.deepEqual(wrong, []);
});

test('nothing in the repository points at a design file outside it', (t) => {
  const offending: string[] = [];
  for (const file of [...MARKDOWN, ...SOURCES]) {
    const text = read(file);
    for (const s of OUTSIDE_REFERENCES) if (text.includes(s)) offending.push(`${file}: ${s}`);
    if (OLD_SECTION_CITATION.test(text)) offending.push(`${file}: a section citation of the old design contract`);
  }
  t.deepEqual(offending, []);
});

test('the checks above catch what they are for', (t) => {
  t.deepEqual(localLinks('[a](../outside.md) [b](https://x.y) [c](#here) [d](docs/x.md#y)'), [
    '../outside.md',
    '#here',
    'docs/x.md#y',
  ]);
  t.false(insideRepo(OUTSIDE_REFERENCES[0] as string));
  t.false(insideRepo('docs/no-such-page.md'));
  t.true(insideRepo('docs/architecture.md'));
  t.is(headingAnchor('§5.1 Publish is durable when it resolves'), '51-publish-is-durable-when-it-resolves');
  t.is(
    headingAnchor('The Emergency Stop System (`src/actors/risk-safety/`)'),
    'the-emergency-stop-system-srcactorsrisk-safety',
  );
  t.deepEqual(codePaths('`src/a.ts` `test/*.ts` `QT_DATA_DIR/x` `bench/results/latest.json`'), ['src/a.ts']);
  t.deepEqual(architectureCitations(' * (docs/architecture.md\n * §5, §7.2 and §15): x §99'), ['5', '7.2', '15']);
  t.deepEqual(architectureCitations('[architecture.md §11.3](architecture.md#113-execution)'), ['11.3']);
  t.true(OLD_SECTION_CITATION.test(`see ${OLD_CONTRACT} §4`));
  t.false(OLD_SECTION_CITATION.test('see docs/architecture.md §4'));
});
