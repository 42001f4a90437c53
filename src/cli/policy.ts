/**
 * `qt policy get | set` (docs/cli.md): the pre-trade risk policy through
 * risk-safety's `GET /policy` and `PUT /policy` (docs/architecture.md §10).
 *
 * `set KEY=VALUE...` parses each value by the field's type (numbers,
 * booleans; an unknown key is bad usage, exit 2, naming it) and prints the
 * plan: old → new per key and the checks `PUT /policy` makes, run here with
 * the same schema and contradiction rule. Nothing changes without
 * `--execute`; with it the service decides, and a refusal (`400
 * invalid_body` / `invalid_policy`) is printed issue by issue and exits 2,
 * as the values given are what is wrong.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import {
  DEFAULT_RISK_POLICY,
  policyContradictions,
  type RiskPolicy,
  RiskPolicySchema,
} from '../actors/risk-safety/policy.js';
import { PolicyUpdateBodySchema } from '../actors/risk-safety/policy-routes.js';
import { type AdminOptions, attempt, audited, withAdminOptions } from './admin-command.js';
import type { CliContext } from './context.js';
import { CliError, EXIT } from './exit-codes.js';
import {
  callService,
  issueParts,
  issueText,
  newCorrelationId,
  parseAnswer,
  type ServiceEndpoint,
  type ServiceRequest,
  serviceEndpoint,
} from './http-client.js';
import { type Column, printJson, renderTable } from './output.js';

/** A policy value: every field is a number or a boolean. */
const PolicyValueSchema = z.union([z.number(), z.boolean()]);

/** `qt policy get --json`: the policy in force and the fields that differ from the defaults. */
export const PolicyGetOutputSchema = z.object({
  policy: z.record(z.string(), PolicyValueSchema),
  defaults: z.record(z.string(), PolicyValueSchema),
  changed: z.array(z.string()),
});

/** One issue that refuses a change: the fields it is about and why. */
const PolicyIssueSchema = z.object({ fields: z.array(z.string()), message: z.string() });

/** `qt policy set --json`: the plan or what was applied. */
export const PolicySetOutputSchema = z.object({
  executed: z.boolean(),
  changes: z.array(z.object({ key: z.string(), old: PolicyValueSchema, new: PolicyValueSchema })),
  /** Empty when the change passes the checks. */
  issues: z.array(PolicyIssueSchema),
  /** Who refused it: `qt` (the plan's checks, nothing sent) or the service's error (`invalid_policy`). */
  refusedBy: z.string().nullable(),
  /** The policy after the change: applied (`executed`) or as it would be. */
  policy: z.record(z.string(), PolicyValueSchema),
});
export type PolicySetOutput = z.infer<typeof PolicySetOutputSchema>;

type PolicyKey = keyof RiskPolicy;
const POLICY_KEYS = Object.keys(DEFAULT_RISK_POLICY) as PolicyKey[];

/**
 * Parses `KEY=VALUE` arguments into a policy patch by each field's type (the
 * defaults' types: numbers and booleans). Exit 2 for an unknown key (all
 * named), a malformed argument or a value of the wrong type.
 */
export function parseAssignments(args: readonly string[]): Partial<RiskPolicy> {
  const pairs = args.map((arg) => {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new CliError(EXIT.USAGE, `"${arg}" is not KEY=VALUE (keys: ${POLICY_KEYS.join(', ')})`);
    return { key: arg.slice(0, eq).trim(), text: arg.slice(eq + 1).trim() };
  });
  // Every unknown key named at once, before any value is looked at.
  const unknown = pairs.filter((p) => !Object.hasOwn(DEFAULT_RISK_POLICY, p.key)).map((p) => p.key);
  if (unknown.length > 0) {
    throw new CliError(
      EXIT.USAGE,
      `unknown policy key${unknown.length === 1 ? '' : 's'}: ${unknown.join(', ')} (keys: ${POLICY_KEYS.join(', ')})`,
    );
  }
  const patch: Record<string, number | boolean> = {};
  for (const { key, text } of pairs) {
    if (typeof DEFAULT_RISK_POLICY[key as PolicyKey] === 'boolean') {
      if (text !== 'true' && text !== 'false') throw new CliError(EXIT.USAGE, `${key}=${text}: expected true or false`);
      patch[key] = text === 'true';
    } else {
      const n = Number(text);
      if (text === '' || !Number.isFinite(n)) throw new CliError(EXIT.USAGE, `${key}=${text}: expected a number`);
      patch[key] = n;
    }
  }
  return patch as Partial<RiskPolicy>;
}

/** A field as the body names it (`policy.minConfidence`) the way the operator typed it (`minConfidence`). */
function policyField(field: string): string {
  return field.startsWith('policy.') ? field.slice('policy.'.length) : field;
}

/** The checks `PUT /policy` makes, run on the plan: the body's schema, then the contradiction rule on the result. */
export function planIssues(
  operator: string,
  current: RiskPolicy,
  patch: Partial<RiskPolicy>,
): PolicySetOutput['issues'] {
  const body = PolicyUpdateBodySchema.safeParse({ operator, policy: patch });
  if (!body.success) {
    return body.error.issues.map((i) => {
      const { fields, message } = issueParts(i);
      return { fields: fields.map(policyField), message };
    });
  }
  return policyContradictions({ ...current, ...patch }).map((c) => ({ fields: [...c.fields], message: c.message }));
}

function riskSafety(ctx: CliContext, url: string | undefined): ServiceEndpoint {
  return serviceEndpoint(ctx, 'risk-safety', url);
}

async function readPolicy(endpoint: ServiceEndpoint): Promise<RiskPolicy> {
  const { body } = await callService(endpoint, { path: '/policy' }, [200]);
  return parseAnswer(RiskPolicySchema, body, endpoint, 'GET /policy');
}

const GET_COLUMNS: Column<{ key: string; value: unknown; def: unknown }>[] = [
  { header: 'KEY', value: (r) => r.key },
  { header: 'VALUE', value: (r) => String(r.value), right: true },
  { header: 'DEFAULT', value: (r) => (r.value === r.def ? '' : String(r.def)), right: true },
];

const PLAN_COLUMNS: Column<PolicySetOutput['changes'][number]>[] = [
  { header: 'KEY', value: (c) => c.key },
  { header: 'OLD', value: (c) => String(c.old), right: true },
  { header: 'NEW', value: (c) => (c.old === c.new ? `${c.new} (unchanged)` : String(c.new)), right: true },
];

/** The issues, one line each, field first. */
function issueLines(issues: PolicySetOutput['issues']): string {
  return issues.map((i) => `  ${issueText(i)}`).join('\n');
}

const RefusalSchema = z.object({
  error: z.string(),
  issues: z.array(z.unknown()).optional(),
  message: z.string().optional(),
});

/** `PUT /policy`: the stored policy, or the `400`'s error and issues, field by field. */
async function sendPolicy(
  endpoint: ServiceEndpoint,
  request: ServiceRequest,
): Promise<{ ok: true; policy: RiskPolicy } | { ok: false; error: string; issues: PolicySetOutput['issues'] }> {
  const answer = await callService(endpoint, request, [200, 400]);
  if (answer.status === 200)
    return { ok: true, policy: parseAnswer(RiskPolicySchema, answer.body, endpoint, 'PUT /policy') };
  const refusal = parseAnswer(RefusalSchema, answer.body, endpoint, 'PUT /policy');
  const issues = (refusal.issues ?? []).map((i) => {
    const { fields, message } = issueParts(i);
    return { fields: fields.map(policyField), message };
  });
  if (issues.length === 0 && refusal.message) issues.push({ fields: ['body'], message: refusal.message });
  return { ok: false, error: refusal.error, issues };
}

async function setPolicy(
  ctx: CliContext,
  assignments: readonly string[],
  options: AdminOptions & { execute?: boolean },
): Promise<void> {
  const patch = parseAssignments(assignments);
  const endpoint = riskSafety(ctx, options.url);
  // Asked for first, so a missing token is exit 2 before anything is read, plan or not.
  const token = ctx.adminToken();
  const current = await readPolicy(endpoint);
  const changes = (Object.keys(patch) as PolicyKey[]).map((key) => ({
    key,
    old: current[key],
    new: patch[key] as number | boolean,
  }));
  const issues = planIssues(options.operator, current, patch);
  const plan: PolicySetOutput = {
    executed: false,
    changes,
    issues,
    refusedBy: issues.length > 0 ? 'qt' : null,
    policy: { ...current, ...patch },
  };
  if (!options.execute) {
    if (ctx.output.json) printJson(ctx.output, PolicySetOutputSchema, plan);
    else {
      ctx.output.out(`plan: ${changes.length} change${changes.length === 1 ? '' : 's'} to the risk policy`);
      ctx.output.out(renderTable(ctx.output, PLAN_COLUMNS, changes).trimEnd());
      if (issues.length === 0)
        ctx.output.out('checks: passed (as PUT /policy checks them)\nnothing sent: add --execute to apply it');
    }
    if (issues.length > 0) {
      if (!ctx.output.json) ctx.output.err(`would be refused:\n${issueLines(issues)}`);
      throw new CliError(
        EXIT.USAGE,
        `the change would be refused: ${issues.length} issue${issues.length === 1 ? '' : 's'}`,
      );
    }
    return;
  }

  const correlationId = newCorrelationId();
  const record = {
    command: 'policy set',
    args: { ...patch },
    operator: options.operator,
    reason: options.reason,
    correlationId,
  };
  const answer = await attempt(ctx, record, () =>
    sendPolicy(endpoint, {
      method: 'PUT',
      path: '/policy',
      body: { operator: options.operator, policy: patch },
      token,
      correlationId,
    }),
  );
  if (!answer.ok) {
    const out: PolicySetOutput = {
      ...plan,
      executed: true,
      issues: answer.issues,
      refusedBy: answer.error,
      policy: current,
    };
    if (ctx.output.json) printJson(ctx.output, PolicySetOutputSchema, out);
    else ctx.output.err(`${endpoint.service} refused the change (400 ${answer.error}):\n${issueLines(answer.issues)}`);
    await audited(
      ctx,
      { ...record, result: 'refused', details: { error: answer.error, issues: answer.issues } },
      new CliError(EXIT.USAGE, `${endpoint.service} refused the change: 400 ${answer.error}, nothing stored`),
    );
    return;
  }
  const applied = answer.policy;
  const out: PolicySetOutput = {
    executed: true,
    changes: changes.map((c) => ({ ...c, new: applied[c.key as PolicyKey] })),
    issues: [],
    refusedBy: null,
    policy: applied,
  };
  if (ctx.output.json) printJson(ctx.output, PolicySetOutputSchema, out);
  else {
    ctx.output.out(`applied: ${out.changes.map((c) => `${c.key} ${c.old} → ${c.new}`).join(', ')}`);
    ctx.output.out('in force from the first signal pre-trade decides after risk.policy_updated');
  }
  await audited(ctx, { ...record, result: 'ok', details: { changes: out.changes } });
}

/** `qt policy`: get, set. */
export function registerPolicy(program: Command, context: () => CliContext): void {
  const policy = program.command('policy').description('the pre-trade risk policy (risk-safety HTTP API)');
  policy
    .command('get')
    .description('the policy in force, and which fields differ from the defaults')
    .option('--url <url>', 'base URL of risk-safety (a gateway, another host); default as main listens')
    .action(async (options: { url?: string }) => {
      const ctx = context();
      const current = await readPolicy(riskSafety(ctx, options.url));
      const changed = POLICY_KEYS.filter((k) => current[k] !== DEFAULT_RISK_POLICY[k]);
      if (ctx.output.json) {
        printJson(ctx.output, PolicyGetOutputSchema, {
          policy: current,
          defaults: { ...DEFAULT_RISK_POLICY },
          changed,
        });
      } else {
        const rows = POLICY_KEYS.map((key) => ({ key, value: current[key], def: DEFAULT_RISK_POLICY[key] }));
        ctx.output.out(renderTable(ctx.output, GET_COLUMNS, rows).trimEnd());
      }
    });
  withAdminOptions(
    policy
      .command('set')
      .description('change policy fields: prints the plan and its checks; applies with --execute')
      .argument('<KEY=VALUE...>', `fields to change: ${POLICY_KEYS.join(', ')}`)
      .option('--execute', 'apply it: without, nothing changes'),
    'risk-safety',
  ).action(async (assignments: string[], options: AdminOptions & { execute?: boolean }) =>
    setPolicy(context(), assignments, options),
  );
}
