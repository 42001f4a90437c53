/**
 * What each step of the daily restart does (the plan is in plan.ts, the
 * order of things in orchestrator.ts). Every step can run again after an
 * orchestrator died in it: pausing twice is pausing, stopping a stopped
 * service or starting a healthy one changes nothing, a capture already made
 * is kept.
 */
import type { Redis } from 'ioredis';
import { deadline } from '../../actors/monitoring/probe-infra.js';
import { ACTOR_TOPICS, type ActorName, SERVICES } from '../../actors/services.js';
import { TOPICS } from '../../events/catalog.js';
import { groupInfos, groupLag } from '../../streams/group-lag.js';
import type { Keys } from '../../streams/keys.js';
import type { Publisher } from '../../streams/publisher-contract.js';
import { parseInfo } from '../../streams/redis-link.js';
import type { RestartTimeouts } from './plan.js';
import type { RunRecord } from './run-record.js';
import { poll, readHealth, type ServiceControl, type ServiceEndpoint } from './service-control.js';
import {
  compareState,
  IN_FLIGHT,
  readBalances,
  readEssState,
  readExecutionState,
  streamCursor,
} from './state-capture.js';

/** Topics that never stop flowing: drained when their lag is under {@link CONTINUOUS_LAG_MAX}, not zero. */
export const CONTINUOUS_TOPICS = ['market', 'health'];
/** The lag a continuous topic may keep and still count as drained. */
export const CONTINUOUS_LAG_MAX = 100;

/** What the steps act on. */
export interface StepDeps {
  readonly redis: Redis;
  readonly keys: Keys;
  readonly publisher: Publisher;
  readonly control: ServiceControl;
  readonly endpoints: Readonly<Record<string, ServiceEndpoint>>;
  readonly timeouts: RestartTimeouts;
}

/** A step's outcome: what to say about it and what it changed in the record. */
export interface StepResult {
  readonly detail: string;
  readonly record?: Partial<Pick<RunRecord, 'captured' | 'stopped'>>;
}

/** The platform groups that are behind: `group on topic: N entries, P pending`. */
async function behind(redis: Redis, keys: Keys): Promise<string[]> {
  const out: string[] = [];
  for (const topic of TOPICS) {
    const key = keys.stream(topic);
    for (const info of (await groupInfos(redis, key)) ?? []) {
      const platform =
        Object.hasOwn(ACTOR_TOPICS, info.name) &&
        (ACTOR_TOPICS[info.name as ActorName] as readonly string[]).includes(topic);
      if (!platform) continue;
      const { lag } = await groupLag(redis, key, info, Date.now());
      const allowed = CONTINUOUS_TOPICS.includes(topic) ? CONTINUOUS_LAG_MAX : 0;
      if (lag > allowed || info.pending > 0)
        out.push(`${info.name} on ${topic}: ${lag} behind, ${info.pending} pending`);
    }
  }
  return out;
}

/** The services whose disk buffer holds events: `name: N events`. */
async function buffered(endpoints: Readonly<Record<string, ServiceEndpoint>>): Promise<string[]> {
  const reports = await Promise.all(Object.values(endpoints).map((e) => readHealth(e)));
  return reports.flatMap((r) =>
    r && (r.metrics.buffer_rows ?? 0) > 0 ? [`${r.service}: ${r.metrics.buffer_rows} buffered`] : [],
  );
}

function endpoint(deps: StepDeps, service: string): ServiceEndpoint {
  const e = deps.endpoints[service];
  if (!e) throw new Error(`no endpoint for ${service} (services: ${Object.keys(SERVICES).join(', ')})`);
  return e;
}

/** Runs one step of `record` (its name is `step`); throws when the step fails. */
export async function runStep(step: string, record: RunRecord, deps: StepDeps): Promise<StepResult> {
  const { redis, keys, publisher, control, timeouts } = deps;
  const why = `restart ${record.runId}: ${record.reason}`;
  const [kind, service] = step.split(':') as [string, string | undefined];
  switch (kind) {
    case 'pause-entries':
      await publisher.publish('risk.entries_paused', { operator: record.operator, reason: why });
      return { detail: 'risk.entries_paused published' };
    case 'resume-entries':
      await publisher.publish('risk.entries_resumed', { operator: record.operator, reason: why });
      return { detail: 'risk.entries_resumed published' };
    case 'wait-orders': {
      const inFlight = async () =>
        (await readExecutionState(redis, keys)).orders.filter((o) => IN_FLIGHT.includes(o.status));
      const { ok, last } = await poll(inFlight, (o) => o.length === 0, timeouts.ordersMs, 250);
      if (!ok)
        throw new Error(
          `orders still in flight after ${timeouts.ordersMs} ms: ${last.map((o) => `${o.orderId} ${o.status}`).join(', ')}`,
        );
      return { detail: 'no order in flight' };
    }
    case 'drain': {
      const read = async () => [...(await behind(redis, keys)), ...(await buffered(deps.endpoints))];
      const { ok, last } = await poll(read, (b) => b.length === 0, timeouts.drainMs, 250);
      if (!ok) throw new Error(`not drained after ${timeouts.drainMs} ms: ${last.join('; ')}`);
      return { detail: 'consumer groups caught up, disk buffers empty' };
    }
    case 'capture-balances': {
      if (record.captured.balances !== undefined) return { detail: 'balances already captured' };
      const exec = endpoint(deps, 'execution');
      if ((await readHealth(exec)) === null) return { detail: 'execution not running: balances not compared' };
      const balances = await readBalances(exec.baseUrl);
      const balancesCursor = await streamCursor(redis, keys, ['order']);
      return { detail: 'balances recorded', record: { captured: { ...record.captured, balances, balancesCursor } } };
    }
    case 'capture-state': {
      if (record.captured.execution !== undefined) return { detail: 'state already captured' };
      const execution = await readExecutionState(redis, keys);
      const ess = await readEssState(redis, keys);
      const stateCursor = await streamCursor(redis, keys, ['order', 'ess']);
      const positions = Object.keys(execution.positions).length;
      const open = execution.orders.filter((o) => o.status === 'open').length;
      return {
        detail: `${positions} position(s), ${open} open order(s), ESS ${ess.state}`,
        record: { captured: { ...record.captured, execution, ess, stateCursor } },
      };
    }
    case 'stop': {
      const detail = await control.stop(endpoint(deps, service as string), timeouts.stopMs);
      return { detail, record: { stopped: [...new Set([...record.stopped, service as string])] } };
    }
    case 'start': {
      const detail = await control.start(endpoint(deps, service as string), timeouts.startMs);
      return { detail, record: { stopped: record.stopped.filter((s) => s !== service) } };
    }
    case 'check-infra': {
      const started = performance.now();
      await deadline(redis.ping(), 3_000, 'Redis PING');
      const role = parseInfo(await redis.info('replication')).role;
      if (role !== 'master') throw new Error(`Redis is a ${role}, not the master`);
      return { detail: `Redis master, PING ${Math.round(performance.now() - started)} ms` };
    }
    case 'verify': {
      const exec = endpoint(deps, 'execution');
      const balances = record.captured.balances === undefined ? undefined : await readBalances(exec.baseUrl);
      const after = {
        balances,
        execution: await readExecutionState(redis, keys),
        ess: await readEssState(redis, keys),
      };
      const { problems, notes } = await compareState(redis, keys, record.captured, after);
      if (problems.length > 0) throw new Error(`state not as before: ${problems.join('; ')}`);
      return {
        detail:
          notes.length > 0 ? `as before; ${notes.join('; ')}` : 'balances, positions, open orders and ESS as before',
      };
    }
    default:
      throw new Error(`unknown step ${step}`);
  }
}
