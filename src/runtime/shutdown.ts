/**
 * The process's one stop request. Installed before anything else starts, so
 * SIGTERM or SIGINT at any moment of start-up is a clean stop: whatever was
 * started so far is closed (src/runtime/closers.ts) and the process exits 0.
 * `POST /admin/shutdown` and `--duration` request the same stop.
 */
export class ShutdownSignal {
  readonly requested: Promise<string>;
  #reason: string | undefined;
  #resolve: (reason: string) => void = () => undefined;
  readonly #onSignal = (signal: NodeJS.Signals) => this.request(signal);

  constructor() {
    this.requested = new Promise<string>((resolve) => {
      this.#resolve = resolve;
    });
    process.on('SIGTERM', this.#onSignal);
    process.on('SIGINT', this.#onSignal);
  }

  /** Why the stop was requested, once it was. */
  get reason(): string | undefined {
    return this.#reason;
  }

  /** Requests the stop; the first reason wins, later ones are ignored. */
  request(reason: string): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    this.#resolve(reason);
  }

  /** Removes the signal handlers (once the process has stopped). */
  dispose(): void {
    process.off('SIGTERM', this.#onSignal);
    process.off('SIGINT', this.#onSignal);
  }
}
