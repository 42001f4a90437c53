/**
 * `qt restart` (docs/operations.md, "The daily restart"): without
 * `--execute` it prints the plan and changes nothing; with it, it runs the
 * restart (src/ops/restart/orchestrator.ts), printing each step as it ends,
 * and leaves an audit event. Exit 0 done, 1 refused (another restart holds
 * the lock), 6 failed (entries paused, the ESS tripped: the platform is
 * halted until an operator acts), 3 Redis unreachable, 2 bad usage.
 */
import { hostname } from 'node:os';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { SERVICE_NAMES, SERVICES } from '../actors/services.js';
import { DEFAULT_LEASE_MS } from '../ops/restart/lease.js';
import { runRestart } from '../ops/restart/orchestrator.js';
import { DEFAULT_RESTART_TIMEOUTS, DEFAULT_START_ORDER, DEFAULT_STOP_ORDER, restartPlan } from '../ops/restart/plan.js';
import type { StepLine } from '../ops/restart/run-record.js';
import {
  DEFAULT_UNIT_TEMPLATE,
  ProcessControl,
  readHealth,
  type ServiceControl,
  type ServiceEndpoint,
  SystemdControl,
} from '../ops/restart/service-control.js';
import { RedisPublisher } from '../streams/publisher.js';
import { audited } from './admin-command.js';
import { addReasonOption, cliOperator } from './audit.js';
import type { CliContext } from './context.js';
import { durationOption } from './duration.js';
import { CliError, EXIT } from './exit-codes.js';
import { formatDuration } from './output.js';

interface RestartOptions {
  readonly reason: string;
  readonly operator: string;
  readonly execute?: boolean;
  readonly dryRun?: boolean;
  readonly control: 'process' | 'systemd';
  readonly unit: string;
  readonly leaseMs: number;
  readonly startTimeout?: number;
  readonly stopTimeout?: number;
  readonly drainTimeout?: number;
}

function positiveMs(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 500) throw new InvalidArgumentError('must be a whole number of ms, at least 500');
  return n;
}

/** The services' endpoints, as `main` listens (QT_HTTP_HOST, port + offset; QT_HEALTH_TARGETS where set). */
function endpoints(ctx: CliContext): Record<string, ServiceEndpoint> {
  return Object.fromEntries(
    SERVICE_NAMES.map((service) => [
      service,
      { service, baseUrl: ctx.config.health.targets[service] ?? ctx.serviceUrl(SERVICES[service].port) },
    ]),
  );
}

/** With plain processes every service must run alone in its own: a stop would take its neighbours down too. */
async function checkOneServicePerProcess(
  all: Record<string, ServiceEndpoint>,
  services: readonly string[],
): Promise<void> {
  const producers = new Map<string, string[]>();
  for (const service of services) {
    const report = await readHealth(all[service] as ServiceEndpoint);
    if (!report?.producer) continue;
    producers.set(report.producer, [...(producers.get(report.producer) ?? []), service]);
  }
  const shared = [...producers.values()].filter((s) => s.length > 1);
  if (shared.length > 0)
    throw new CliError(
      EXIT.REFUSED,
      `qt restart runs one process per service, but ${shared.map((s) => s.join(' and ')).join('; ')} share one process: start them as --actors=NAME each`,
    );
}

const lineText = (l: StepLine) =>
  `${l.at.slice(11, 23)}  ${l.status.padEnd(6)} ${l.step.padEnd(32)} ${formatDuration(l.durationMs).padStart(7)}  ${l.detail}`;

/** `qt restart`: the plan, or with --execute the restart. */
export function registerRestart(program: Command, context: () => CliContext): void {
  const command = program
    .command('restart')
    .description(
      'the daily restart: pause entries, drain, stop and start in order, verify, resume (plan unless --execute)',
    )
    .option('--execute', 'run it (without: print the plan, change nothing)')
    .option('--dry-run', 'print the plan and change nothing (the default)')
    .addOption(
      new Option('--control <kind>', 'how services are stopped and started')
        .choices(['process', 'systemd'])
        .default('process'),
    )
    .option('--unit <template>', 'systemd unit of a service', DEFAULT_UNIT_TEMPLATE)
    .option('--operator <name>', 'who runs it', cliOperator())
    .option(
      '--lease-ms <ms>',
      'lock lease: another run may take over this long after this one dies',
      positiveMs,
      DEFAULT_LEASE_MS,
    )
    .option('--start-timeout <duration>', 'longest wait for one service to be OK', durationOption)
    .option('--stop-timeout <duration>', 'longest wait for one service to stop', durationOption)
    .option('--drain-timeout <duration>', 'longest wait for consumers to catch up', durationOption);
  addReasonOption(command).action(async (options: RestartOptions) => {
    const ctx = context();
    const plan = restartPlan({ stopOrder: DEFAULT_STOP_ORDER, startOrder: DEFAULT_START_ORDER });
    if (!options.execute || options.dryRun) {
      if (ctx.output.json) ctx.output.out(JSON.stringify({ plan }, null, 2));
      else {
        ctx.output.out(plan.map((s, i) => `${String(i + 1).padStart(2)}. ${s.step.padEnd(30)} ${s.does}`).join('\n'));
        ctx.output.out('\nnothing done: add --execute to run it');
      }
      return;
    }
    const redis = await ctx.redis();
    const all = endpoints(ctx);
    const control: ServiceControl =
      options.control === 'systemd'
        ? new SystemdControl(options.unit)
        : new ProcessControl({ dataDir: ctx.config.dataDir, adminToken: ctx.adminToken() });
    if (control.kind === 'process') await checkOneServicePerProcess(all, DEFAULT_STOP_ORDER);
    const publisher = new RedisPublisher({
      redis,
      keys: ctx.keys,
      producer: `restart.${hostname().replace(/[^A-Za-z0-9_.-]/g, '_')}`.slice(0, 128),
      source: 'restart',
    });
    const timeouts = {
      ...DEFAULT_RESTART_TIMEOUTS,
      ...(options.startTimeout ? { startMs: options.startTimeout } : {}),
      ...(options.stopTimeout ? { stopMs: options.stopTimeout } : {}),
      ...(options.drainTimeout ? { drainMs: options.drainTimeout, ordersMs: options.drainTimeout } : {}),
    };
    let outcome: Awaited<ReturnType<typeof runRestart>>;
    try {
      outcome = await runRestart({
        redis,
        keys: ctx.keys,
        publisher,
        control,
        endpoints: all,
        plan,
        timeouts,
        operator: options.operator,
        reason: options.reason,
        leaseMs: options.leaseMs,
        onLine: (l) => {
          if (!ctx.output.json) ctx.output.out(lineText(l));
        },
      });
    } finally {
      await publisher.close();
    }
    const record = {
      command: 'restart',
      operator: options.operator,
      reason: options.reason,
      args: { control: options.control },
    };
    if (outcome.result === 'refused') {
      const why = `another restart holds the lock (${outcome.holder.owner}, ${formatDuration(outcome.holder.remainingMs)} left on its lease)`;
      await audited(ctx, { ...record, result: 'refused', details: { holder: outcome.holder.owner } });
      throw new CliError(EXIT.REFUSED, why);
    }
    const summary = {
      runId: outcome.record.runId,
      result: outcome.result,
      resumed: outcome.resumed,
      durationMs: outcome.durationMs,
      steps: outcome.record.lines,
      ...(outcome.record.failure ? { failure: outcome.record.failure, advice: outcome.advice } : {}),
    };
    if (ctx.output.json) ctx.output.out(JSON.stringify(summary, null, 2));
    else
      ctx.output.out(
        `\nrestart ${outcome.record.runId} ${outcome.result} in ${formatDuration(outcome.durationMs)}${outcome.resumed ? ' (resumed)' : ''}`,
      );
    await audited(ctx, {
      ...record,
      result: outcome.result === 'done' ? 'ok' : 'failed',
      details: { runId: outcome.record.runId, durationMs: outcome.durationMs, resumed: outcome.resumed },
    });
    if (outcome.result === 'failed') throw new CliError(EXIT.CRITICAL, outcome.advice ?? 'the restart failed');
  });
}
