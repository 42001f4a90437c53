/**
 * A small open-loop load generator for the gateway tests: requests sent on a
 * fixed schedule (rate × duration of them, a bounded loop), each one not
 * waiting for the answers before it, with Node's fetch. It counts the
 * answers by status and checks every 429 the way a client would use it: a
 * JSON body naming the error, and a Retry-After header.
 */

/** What to send, how fast and for how long. */
export interface LoadPlan {
  readonly url: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly ratePerSecond: number;
  readonly durationMs: number;
}

/** What came back. */
export interface LoadResult {
  readonly sent: number;
  /** From the first request sent to the last. */
  readonly sendingMs: number;
  /** The rate the requests actually went out at. */
  readonly achievedRate: number;
  readonly byStatus: Readonly<Record<number, number>>;
  /** 429s with a JSON body `{"error":"rate_limited",…}` and a numeric Retry-After. */
  readonly wellFormed429: number;
  /** Requests that got no answer (connection errors), with the first error. */
  readonly failed: number;
  readonly firstError?: string;
}

/** Sends `plan` and waits for every answer. */
export async function generateLoad(plan: LoadPlan): Promise<LoadResult> {
  const total = Math.round((plan.ratePerSecond * plan.durationMs) / 1000);
  const intervalMs = 1000 / plan.ratePerSecond;
  const byStatus: Record<number, number> = {};
  let wellFormed429 = 0;
  let failed = 0;
  let firstError: string | undefined;
  const one = async () => {
    try {
      const init: RequestInit = { method: plan.method ?? 'GET', headers: plan.headers ?? {} };
      if (plan.body !== undefined) init.body = plan.body;
      const res = await fetch(plan.url, init);
      const text = await res.text();
      byStatus[res.status] = (byStatus[res.status] ?? 0) + 1;
      if (res.status === 429 && isRateLimitedBody(text) && /^\d+$/.test(res.headers.get('retry-after') ?? '')) {
        wellFormed429++;
      }
    } catch (err) {
      failed++;
      firstError ??= String((err as Error).cause ?? err);
    }
  };
  const answers: Promise<void>[] = [];
  const start = performance.now();
  let lastSent = start;
  for (let i = 0; i < total; i++) {
    const due = start + i * intervalMs;
    const wait = due - performance.now();
    if (wait >= 1) await new Promise((resolve) => setTimeout(resolve, wait));
    lastSent = performance.now();
    answers.push(one());
  }
  await Promise.all(answers);
  const sendingMs = lastSent - start;
  return {
    sent: total,
    sendingMs,
    achievedRate: sendingMs > 0 ? (total - 1) / (sendingMs / 1000) : total,
    byStatus,
    wellFormed429,
    failed,
    ...(firstError === undefined ? {} : { firstError }),
  };
}

function isRateLimitedBody(text: string): boolean {
  try {
    return (JSON.parse(text) as { error?: unknown }).error === 'rate_limited';
  } catch {
    return false;
  }
}

/** One line for t.log: sent, rate, and the count of each status. */
export function describeLoad(label: string, r: LoadResult): string {
  const statuses = Object.entries(r.byStatus)
    .map(([status, n]) => `${status}: ${n}`)
    .join(', ');
  return `${label}: ${r.sent} sent in ${(r.sendingMs / 1000).toFixed(2)} s (${r.achievedRate.toFixed(0)} r/s): ${statuses}; 429 well-formed ${r.wellFormed429}; failed ${r.failed}`;
}
