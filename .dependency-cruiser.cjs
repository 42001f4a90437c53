/**
 * The folder dependency rule (docs/architecture.md, "Layout"), checked by
 * `npm run lint` and by `npm test` (test/architecture.test.ts).
 *
 * Folders depend one way, downward. Each layer may import its own layer and
 * the layers below it, never one above; and no module takes part in an
 * import cycle. When two folders need each other, the shared part moves
 * down, or an interface is declared where both can see it.
 */
const LAYERS = [
  { name: 'base', path: '^src/(errors|log|metrics|backoff|correlation|version)\\.ts$' },
  { name: 'events', path: '^src/events/' },
  { name: 'config', path: '^src/config/' },
  { name: 'buffer', path: '^src/buffer/' },
  { name: 'streams', path: '^src/streams/' },
  { name: 'http', path: '^src/http/' },
  { name: 'exchange', path: '^src/exchange/' },
  { name: 'actors', path: '^src/actors/' },
  { name: 'ops', path: '^src/ops/' },
  { name: 'runtime', path: '^src/runtime/' },
  { name: 'entry', path: '^src/(main\\.ts|cli/)' },
];

// Layers on one rank may not import each other either: they are siblings.
const RANK = { base: 0, events: 1, config: 2, buffer: 3, streams: 4, http: 5, exchange: 5, actors: 6, ops: 7, runtime: 8, entry: 9 };

const layerRules = LAYERS.flatMap((from) => {
  const above = LAYERS.filter((to) => to.name !== from.name && RANK[to.name] >= RANK[from.name]);
  if (above.length === 0) return [];
  return [
    {
      name: `layer-${from.name}`,
      comment: `${from.name} may import only lower layers`,
      severity: 'error',
      from: { path: from.path },
      to: { path: above.map((to) => to.path).join('|') },
    },
  ];
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'an import cycle ties modules together so neither can change or be tested alone',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'src-not-from-tests',
      comment: 'runtime code never imports tests, benchmarks or scripts',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'src-in-a-layer',
      comment: 'every source file belongs to one layer of LAYERS',
      severity: 'error',
      from: { path: '^src/', pathNot: LAYERS.map((l) => l.path).join('|') },
      to: { path: '^src/' },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
