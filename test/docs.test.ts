import { readFileSync } from 'node:fs';
import test from 'ava';
import { EnvSchema } from '../src/config/schema.js';
import { EVENT_TYPES } from '../src/events/catalog.js';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

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
