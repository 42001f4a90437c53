/**
 * `qt ess` at the edges, against real `main` processes: admin routes
 * disabled on the service (no QT_ADMIN_TOKEN there: exit 2 saying so), and
 * a Redis that stalls (`CLIENT PAUSE ... ALL`): `qt ess trip` prints the
 * service's `202` (recorded in the disk buffer, takes effect when Redis
 * answers) and exits 0, `qt ess status` meanwhile exits 4 with the
 * service's reason, and once Redis answers the ESS is tripped and the
 * trip's audit event is recorded.
 */
import test, { type ExecutionContext } from 'ava';
import { EssStatusOutputSchema, EssTripOutputSchema } from '../../src/cli/ess.js';
import type { EventData } from '../../src/events/catalog.js';
import { decodeEntry } from '../../src/streams/codec.js';
import { createKeys } from '../../src/streams/keys.js';
import { waitFor } from '../support/bus.js';
import { runQt } from '../support/cli.js';
import { startMain } from '../support/main-process.js';
import { redisRig } from '../support/rig.js';

const TOKEN = 'a-cli-ess-edges-admin-token';
// Long enough that the trip reaches risk-safety inside the pause however slowly the CLI starts on a busy machine.
const PAUSE_MS = 10_000;

async function riskSafety(t: ExecutionContext, name: string, env: Record<string, string>) {
  const { server, dataDir, prefix } = await redisRig(t, name);
  const { port } = await startMain(t, ['--actors=risk-safety'], {
    REDIS_URL: server.url,
    QT_DATA_DIR: dataDir,
    QT_KEY_PREFIX: prefix,
    QT_SUMMARY_INTERVAL_MS: '0',
    ...env,
  });
  // The CLI's environment: the same Redis, prefix and port offset as that main.
  const cli = { REDIS_URL: server.url, QT_KEY_PREFIX: prefix, QT_HTTP_PORT_OFFSET: String(port(0)) };
  await waitFor(async () => (await runQt(['ess', 'status'], cli)).code === 0, 'the ESS answering', 30_000, 200);
  return { server, prefix, cli };
}

test('admin routes disabled on the service: exit 2 saying so, and nothing changes', async (t) => {
  const { cli } = await riskSafety(t, 'cli-ess-disabled', {});
  const trip = await runQt(['ess', 'trip', '--reason', 'no admin here'], { ...cli, QT_ADMIN_TOKEN: TOKEN });
  t.is(trip.code, 2);
  t.regex(
    trip.stderr,
    /^qt: admin routes are disabled on risk-safety at http:\/\/127\.0\.0\.1:\d+ \(no QT_ADMIN_TOKEN set there\)$/m,
  );
  const status = await runQt(['--json', 'ess', 'status'], cli);
  t.is(EssStatusOutputSchema.parse(JSON.parse(status.stdout)).state, 'armed');
});

test('a stalled Redis: the trip is recorded (202) and printed as such, exit 0; status exits 4 with the reason', async (t) => {
  const { server, prefix, cli } = await riskSafety(t, 'cli-ess-stalled', { QT_ADMIN_TOKEN: TOKEN });
  // The audit event waits for Redis after the trip's answer: a command timeout longer than the pause lets it.
  const env = { ...cli, QT_ADMIN_TOKEN: TOKEN, REDIS_COMMAND_TIMEOUT_MS: String(PAUSE_MS + 5_000) };
  const redis = server.client();
  const keys = createKeys(prefix);

  await redis.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
  const [trip, status] = await Promise.all([
    runQt(['ess', 'trip', '--operator', 'bob', '--reason', 'Redis stalled, halting'], env),
    runQt(['ess', 'status'], env),
  ]);
  t.log(`qt ess trip (Redis paused): exit ${trip.code}: ${trip.stdout.trim()} ${trip.stderr.trim()}`);
  t.log(`qt ess status (Redis paused): exit ${status.code}: ${status.stderr.trim()}`);
  t.is(trip.code, 0, trip.stderr);
  t.regex(
    trip.stdout,
    /^recorded in disk-buffer, not applied yet: takes effect when Redis answers; execution sends no order while it cannot read the ESS state \(request \S+; check qt ess status\)$/m,
  );
  t.is(status.code, 4);
  t.regex(
    status.stderr,
    /^qt: risk-safety at http:\/\/127\.0\.0\.1:\d+ cannot confirm the ESS state \(503\): reading \S+: Redis did not answer within 1000 ms; risk-safety's actor holds armed, not confirmed; execution sends no order while it cannot read the ESS state$/m,
  );

  // Redis answers again: the recorded trip takes effect; the JSON of a trip names where it was recorded.
  await waitFor(
    async () => {
      const res = await runQt(['--json', 'ess', 'status'], env);
      return res.code === 0 && EssStatusOutputSchema.parse(JSON.parse(res.stdout)).state === 'tripped';
    },
    'tripped once Redis answers',
    30_000,
    200,
  );
  const again = await runQt(['--json', 'ess', 'trip', '--operator', 'bob', '--reason', 'again'], env);
  t.is(again.code, 0, again.stderr);
  t.like(EssTripOutputSchema.parse(JSON.parse(again.stdout)), { applied: true, state: 'tripped' });
  const audit = (await redis.xrange(keys.stream('audit'), '-', '+')).map(
    ([, f]) => decodeEntry(f).data as EventData<'audit.command_executed'>,
  );
  t.like(audit, [
    { command: 'ess trip', operator: 'bob', result: 'ok', details: { applied: false, recordedIn: 'disk-buffer' } },
    { command: 'ess trip', operator: 'bob', result: 'ok', details: { applied: true } },
  ]);
});
