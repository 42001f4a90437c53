import type { PreparedService } from '../actors/runtime.js';
import { backoffDelay } from '../backoff.js';
import type { Logger } from '../log.js';
import type { RedisLink } from '../streams/redis-link.js';

/** Retry delays of a service start that failed (Redis went away again): 500 ms doubling to 10 s. */
const START_BACKOFF = { baseMs: 500, maxMs: 10_000, jitter: 'equal' } as const;

/**
 * Starts each prepared service's actors, in dependency order, as soon as
 * Redis answers: with Redis down at start-up the process already serves
 * HTTP (health DOWN, saying why) and buffers what it publishes, and its
 * actors join when Redis comes. A start that fails is retried with backoff.
 * Resolves true once all started, false if `stopped()` became true first.
 */
export async function startWhenRedisAnswers(
  services: readonly PreparedService[],
  link: RedisLink,
  options: { log: Logger; stopped: () => boolean; onWaiting?: () => void },
): Promise<boolean> {
  let waitingLogged = false;
  for (const service of services) {
    if (!service.start) continue;
    for (let attempt = 1; ; attempt++) {
      if (options.stopped()) return false;
      if (!(await link.waitUntilReady(1_000))) {
        if (!waitingLogged) {
          waitingLogged = true;
          options.log.warn('redis is not reachable; the actors start when it answers (publishes are buffered)');
          options.onWaiting?.();
        }
        attempt = 0;
        continue;
      }
      try {
        await service.start();
        break;
      } catch (err) {
        const delay = backoffDelay(START_BACKOFF, attempt);
        options.log.warn(
          { service: service.name, err: (err as Error).message, retryInMs: delay },
          'service did not start; retrying',
        );
        await sleepUnless(delay, options.stopped);
      }
    }
  }
  return !options.stopped();
}

/** Sleeps `ms`, in short steps so a stop request is noticed soon. */
async function sleepUnless(ms: number, stopped: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  while (!stopped() && Date.now() < until) {
    await new Promise((r) => setTimeout(r, Math.min(100, until - Date.now())));
  }
}
