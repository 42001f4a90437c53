/**
 * One real `main` (own redis-server, data dir and key prefix) with the
 * gateway nginx in front of it, shared by the serial tests of a file: made in
 * `test.before`, closed in `test.after.always`. ava allows no `t.teardown`
 * in hooks, so the fixtures' teardowns are collected here and run, last
 * first, by {@link GatewayRig.close}.
 */
import type { ExecutionContext } from 'ava';
import { SERVICES, type ServiceName } from '../../src/actors/services.js';
import { waitFor } from './bus.js';
import { type StartedMain, startMain } from './main-process.js';
import { type Gateway, startGateway } from './nginx.js';
import { redisRig } from './rig.js';

/** A running `main` and its gateway. */
export interface GatewayRig {
  readonly main: StartedMain;
  readonly gateway: Gateway;
  /** Stops the gateway, `main` and Redis, and removes their dirs; every step runs even if one throws. */
  close(): Promise<void>;
}

/**
 * Starts `main --actors=ACTORS` (waiting until each of `healthy` answers
 * 200 on /health) and the gateway in front of it. `env` goes to `main`.
 */
export async function startGatewayRig(
  hook: ExecutionContext<unknown>,
  label: string,
  options: { actors: string; healthy: readonly ServiceName[]; env?: Record<string, string> },
): Promise<GatewayRig> {
  const closers: (() => unknown)[] = [];
  const close = async () => {
    const errors: unknown[] = [];
    for (const closer of closers.reverse())
      await Promise.resolve()
        .then(closer)
        .catch((err) => errors.push(err));
    closers.length = 0;
    if (errors.length > 0) throw new AggregateError(errors, 'gateway rig: some teardowns failed');
  };
  const t = {
    teardown: (fn: () => unknown) => closers.push(fn),
    log: (...values: unknown[]) => hook.log(...values),
  } as unknown as ExecutionContext;
  try {
    const rig = await redisRig(t, label);
    const main = await startMain(t, [`--actors=${options.actors}`], {
      ...rig.env,
      QT_SUMMARY_INTERVAL_MS: '0',
      ...options.env,
    });
    for (const name of options.healthy) {
      const url = `http://127.0.0.1:${main.port(SERVICES[name].port)}/health`;
      const ok = async () => (await fetch(url).catch(() => undefined))?.status === 200;
      await waitFor(ok, `${name} healthy`, 60_000, 200);
    }
    const gateway = await startGateway(t, main.port(0));
    return { main, gateway, close };
  } catch (err) {
    await close();
    throw err;
  }
}
