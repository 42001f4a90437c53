/**
 * A promise-based mutual exclusion lock. Consumers of one actor share one so
 * that handling a batch and committing it never interleave with another
 * topic's batch: every snapshot committed then covers exactly the events
 * acknowledged with it or before it.
 */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();

  /** Waits for the lock; resolves with the function that releases it. */
  acquire(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const ready = this.#tail.then(() => release);
    this.#tail = this.#tail.then(() => held);
    return ready;
  }

  /** Runs `fn` while holding the lock. */
  async run<T>(fn: () => Promise<T> | T): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
