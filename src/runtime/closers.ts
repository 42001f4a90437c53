import type { Logger } from '../log.js';

/**
 * The process's clean-up, as a stack: whatever opens a resource pushes its
 * closer at once, and shutdown runs them last-in-first-out — every one, even
 * when an earlier one throws — so a signal at any point of start-up stops
 * exactly what was started so far (a local redis-server included).
 */
export class Closers {
  readonly #stack: { readonly name: string; readonly close: () => unknown }[] = [];
  readonly #log: Logger;
  #closing: Promise<CloseReport> | undefined;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** True once `closeAll()` was called: start-up should stop opening things. */
  get closing(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Registers a closer. Pushed after `closeAll()` began, it runs at once
   * (a resource that finished opening during shutdown is not left behind).
   */
  push(name: string, close: () => unknown): void {
    if (this.#closing) {
      void this.#closing.then(() => runOne(this.#log, name, close));
      return;
    }
    this.#stack.push({ name, close });
  }

  /** Runs every closer, newest first, once; the same promise on repeat calls. */
  closeAll(): Promise<CloseReport> {
    this.#closing ??= (async () => {
      const failed: string[] = [];
      while (this.#stack.length > 0) {
        const { name, close } = this.#stack.pop() as { name: string; close: () => unknown };
        if (!(await runOne(this.#log, name, close))) failed.push(name);
      }
      return { failed };
    })();
    return this.#closing;
  }
}

/** What shutdown did: the closers that threw (each was logged). */
export interface CloseReport {
  readonly failed: readonly string[];
}

async function runOne(log: Logger, name: string, close: () => unknown): Promise<boolean> {
  try {
    await close();
    return true;
  } catch (err) {
    log.error({ closer: name, err: (err as Error).message }, 'a closer failed; carrying on with the rest');
    return false;
  }
}
