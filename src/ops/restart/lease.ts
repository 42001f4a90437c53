/**
 * The restart orchestrator's lock: a lease in Redis (`qt:lock:{restart}`)
 * held by one run at a time. Taken with SET NX PX, renewed while the run
 * lives, released at the end; a run that dies stops renewing, so its lease
 * expires and the next run may take over (and resume). Renewal and release
 * act only while this run is still the owner (one Lua call each).
 */
import type { Redis } from 'ioredis';

/** Default lease length; renewed every third of it. */
export const DEFAULT_LEASE_MS = 30_000;

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/** Who holds a lease and for how much longer. */
export interface LeaseHolder {
  readonly owner: string;
  readonly remainingMs: number;
}

/** One run's lease. */
export class Lease {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #owner: string;
  readonly #ms: number;
  #timer: NodeJS.Timeout | undefined;
  #lost = false;

  constructor(redis: Redis, key: string, owner: string, ms = DEFAULT_LEASE_MS) {
    this.#redis = redis;
    this.#key = key;
    this.#owner = owner;
    this.#ms = ms;
  }

  /** True once a renewal found the lease gone or someone else's: the run must stop. */
  get lost(): boolean {
    return this.#lost;
  }

  /** Takes the lease; the current holder when someone else has it. Renews until released. */
  async acquire(): Promise<{ ok: true } | { ok: false; holder: LeaseHolder }> {
    const set = await this.#redis.set(this.#key, this.#owner, 'PX', this.#ms, 'NX');
    if (set !== 'OK') {
      const [owner, ttl] = await Promise.all([this.#redis.get(this.#key), this.#redis.pttl(this.#key)]);
      if (owner === this.#owner) return this.#renewing();
      return { ok: false, holder: { owner: owner ?? '(expired just now)', remainingMs: Math.max(0, ttl) } };
    }
    return this.#renewing();
  }

  #renewing(): { ok: true } {
    this.#timer = setInterval(
      () => {
        this.#redis.eval(RENEW, 1, this.#key, this.#owner, this.#ms).then(
          (renewed) => {
            if (Number(renewed) !== 1) this.#lost = true;
          },
          // A renewal Redis did not answer is retried at the next interval; the lease may still expire.
          () => undefined,
        );
      },
      Math.max(100, Math.floor(this.#ms / 3)),
    );
    this.#timer.unref();
    return { ok: true };
  }

  /** Stops renewing and deletes the lease if still ours. */
  async release(): Promise<void> {
    clearInterval(this.#timer);
    await this.#redis.eval(RELEASE, 1, this.#key, this.#owner);
  }

  /** Stops renewing without deleting (a run that aborted leaves it to expire). */
  stop(): void {
    clearInterval(this.#timer);
  }
}
