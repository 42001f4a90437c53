/**
 * `qt policy get | set` against a real `main` (risk-safety) on a real
 * Redis: get shows the defaults; set prints the plan (old → new, the checks
 * PUT /policy makes) and changes nothing; `--execute` applies it
 * (`risk.policy_updated` published, audited); contradictory or
 * out-of-range values print each issue field by field and exit 2 (from the
 * plan's checks, and from the server's `400` when executed); unknown keys
 * and malformed values exit 2 before anything is sent.
 */
import test from 'ava';
import { PolicyGetOutputSchema, PolicySetOutputSchema } from '../../src/cli/policy.js';
import type { EventData } from '../../src/events/catalog.js';
import { decodeEntry } from '../../src/streams/codec.js';
import { waitFor } from '../support/bus.js';
import { runQt } from '../support/cli.js';
import { startMain } from '../support/main-process.js';
import { redisRig } from '../support/rig.js';

const TOKEN = 'a-cli-policy-admin-token-for-tests';

test('policy get and set: the plan changes nothing, --execute applies, refusals name each field', async (t) => {
  const { server, dataDir, prefix, keys } = await redisRig(t, 'cli-policy');
  const { port } = await startMain(t, ['--actors=risk-safety'], {
    REDIS_URL: server.url,
    QT_DATA_DIR: dataDir,
    QT_KEY_PREFIX: prefix,
    QT_ADMIN_TOKEN: TOKEN,
    QT_SUMMARY_INTERVAL_MS: '0',
  });
  const env = {
    REDIS_URL: server.url,
    QT_KEY_PREFIX: prefix,
    QT_ADMIN_TOKEN: TOKEN,
    QT_HTTP_PORT_OFFSET: String(port(0)),
  };
  const qt = (...args: string[]) => runQt(args, env);
  const redis = server.client();
  const events = async (topic: string) =>
    (await redis.xrange(keys.stream(topic), '-', '+')).map(([, f]) => decodeEntry(f));
  const policyUpdates = async () => (await events('risk')).filter((e) => e.type === 'risk.policy_updated');
  const get = async () => {
    const res = await qt('--json', 'policy', 'get');
    t.is(res.code, 0, res.stderr);
    return PolicyGetOutputSchema.parse(JSON.parse(res.stdout));
  };
  await waitFor(async () => (await qt('policy', 'get')).code === 0, 'risk-safety answering', 30_000, 200);

  const text = await qt('policy', 'get');
  t.regex(text.stdout, /^maxOpenOrders\s+20\s/m);
  t.regex(text.stdout, /^allowShortSelling\s+false\s/m);
  t.like(await get(), { changed: [], policy: { maxOpenOrders: 20, minConfidence: 0.6 } });
  const updatesBefore = (await policyUpdates()).length;

  // The plan: old → new, the checks passed, nothing sent.
  const plan = await qt('policy', 'set', 'maxOpenOrders=5', 'minConfidence=0.7', '--reason', 'tighten');
  t.is(plan.code, 0, plan.stderr);
  t.log(`qt policy set (plan):\n${plan.stdout}`);
  t.regex(plan.stdout, /^maxOpenOrders\s+20\s+5\s*$/m);
  t.regex(plan.stdout, /^minConfidence\s+0\.6\s+0\.7\s*$/m);
  t.regex(plan.stdout, /nothing sent: add --execute/);
  const planJson = PolicySetOutputSchema.parse(
    JSON.parse((await qt('--json', 'policy', 'set', 'maxOpenOrders=5', '--reason', 'tighten')).stdout),
  );
  t.like(planJson, { executed: false, issues: [], refusedBy: null, policy: { maxOpenOrders: 5 } });
  t.like(await get(), { changed: [], policy: { maxOpenOrders: 20 } }, 'the plan changed nothing');
  t.is((await policyUpdates()).length, updatesBefore, 'and published nothing');

  // --execute applies it; the event pre-trade decides by carries it.
  const applied = await qt(
    '--json',
    'policy',
    'set',
    'maxOpenOrders=5',
    'allowShortSelling=true',
    '--operator',
    'carol',
    '--reason',
    'tighten',
    '--execute',
  );
  t.is(applied.code, 0, applied.stderr);
  const appliedJson = PolicySetOutputSchema.parse(JSON.parse(applied.stdout));
  t.deepEqual(appliedJson.changes, [
    { key: 'maxOpenOrders', old: 20, new: 5 },
    { key: 'allowShortSelling', old: false, new: true },
  ]);
  t.like(await get(), { changed: ['maxOpenOrders', 'allowShortSelling'], policy: { maxOpenOrders: 5 } });
  const last = (await policyUpdates()).at(-1)?.data as EventData<'risk.policy_updated'> | undefined;
  t.like(last, { operator: 'carol', policy: { maxOpenOrders: 5, allowShortSelling: true } });

  // Contradictory limits: the plan's checks print both fields, exit 2, nothing sent.
  const contradictory = await qt('policy', 'set', 'orderNotional=20000', '--reason', 'too big');
  t.is(contradictory.code, 2);
  t.regex(
    contradictory.stderr,
    /^ {2}orderNotional, maxNotionalPerOrder: orderNotional 20000 is above maxNotionalPerOrder 10000/m,
  );
  t.regex(contradictory.stderr, /^qt: the change would be refused: 1 issue$/m);
  // Executed anyway: the server refuses it (400 invalid_policy), printed field by field, exit 2, nothing stored.
  const refused = await qt('policy', 'set', 'orderNotional=20000', '--reason', 'too big', '--execute');
  t.log(`qt policy set --execute (contradictory): exit ${refused.code}\n${refused.stderr}`);
  t.is(refused.code, 2);
  t.regex(refused.stderr, /^risk-safety refused the change \(400 invalid_policy\):$/m);
  t.regex(refused.stderr, /^ {2}orderNotional, maxNotionalPerOrder: orderNotional 20000 is above/m);
  t.regex(refused.stderr, /^qt: risk-safety refused the change: 400 invalid_policy, nothing stored$/m);
  // Out of range: the server's invalid_body issue, by field.
  const outOfRange = await qt('--json', 'policy', 'set', 'minConfidence=2', '--reason', 'typo', '--execute');
  t.is(outOfRange.code, 2);
  const outOfRangeJson = PolicySetOutputSchema.parse(JSON.parse(outOfRange.stdout));
  t.like(outOfRangeJson, { executed: true, refusedBy: 'invalid_body' });
  t.deepEqual(
    outOfRangeJson.issues.map((i) => i.fields),
    [['minConfidence']],
  );
  t.like(await get(), { policy: { orderNotional: 1_000, minConfidence: 0.6 } }, 'nothing stored');

  // Unknown keys, all named; malformed values: exit 2, nothing sent.
  const unknown = await qt('policy', 'set', 'maxOpenOrder=3', 'colour=blue', '--reason', 'typo', '--execute');
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /^qt: unknown policy keys: maxOpenOrder, colour \(keys: maxOrdersPerSecond, /m);
  for (const [arg, why] of [
    ['maxOpenOrders=many', 'expected a number'],
    ['allowShortSelling=yes', 'expected true or false'],
    ['maxOpenOrders', 'is not KEY=VALUE'],
  ] as const) {
    const bad = await qt('policy', 'set', arg, '--reason', 'typo', '--execute');
    t.is(bad.code, 2, arg);
    t.true(bad.stderr.includes(why), `${arg}: ${bad.stderr}`);
  }
  const noReason = await qt('policy', 'set', 'maxOpenOrders=3', '--execute');
  t.is(noReason.code, 2);

  t.like(await get(), { policy: { maxOpenOrders: 5 } }, 'none of the refused commands changed anything');
  const audit = (await events('audit')).map((e) => e.data as EventData<'audit.command_executed'>);
  t.deepEqual(
    audit.map((a) => [a.command, a.operator === 'carol' ? 'carol' : 'default', a.result]),
    [
      ['policy set', 'carol', 'ok'],
      ['policy set', 'default', 'refused'],
      ['policy set', 'default', 'refused'],
    ],
    'executed runs only: plans and bad usage record nothing',
  );
  t.deepEqual(audit[0]?.args, { maxOpenOrders: 5, allowShortSelling: true });
});
