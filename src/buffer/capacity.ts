import { QtError } from '../errors.js';
import type { WhenFull } from './types.js';

/** A request for room, admitted in arrival order. */
export interface Reservation {
  readonly rows: number;
  readonly bytes: number;
  /** Called once room is reserved. */
  admit(): void;
  /** Called instead of `admit` when the request will never get room. */
  fail(err: Error): void;
}

interface Waiter {
  readonly reservation: Reservation;
  timer: NodeJS.Timeout | undefined;
}

/**
 * The row and byte budget of a buffer, with the `block`/`reject` policy.
 * Admission is strictly FIFO: while anyone waits, later requests queue
 * behind them even if they would fit, because appends must keep call order.
 */
export class Capacity {
  rows = 0;
  bytes = 0;
  private readonly waiters: Waiter[] = [];

  constructor(
    private readonly path: string,
    readonly maxRows: number,
    readonly maxBytes: number,
    private readonly whenFull: WhenFull,
    private readonly blockTimeoutMs: number,
  ) {}

  /** Number of requests waiting for room. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Reserves room for `r` now, queues it (`block`), or fails it (`reject`, or larger than the whole buffer). */
  request(r: Reservation): void {
    if (r.rows > this.maxRows || r.bytes > this.maxBytes) {
      r.fail(this.fullError(r, 'the append is larger than the whole buffer'));
      return;
    }
    if (this.waiters.length === 0 && this.fits(r)) {
      this.take(r);
      return;
    }
    if (this.whenFull === 'reject') {
      r.fail(this.fullError(r, 'the buffer is full (policy reject)'));
      return;
    }
    const waiter: Waiter = { reservation: r, timer: undefined };
    waiter.timer = setTimeout(() => this.expire(waiter), this.blockTimeoutMs);
    this.waiters.push(waiter);
  }

  /** Returns room (rows removed or an append rolled back) and admits waiters that now fit. */
  release(rows: number, bytes: number): void {
    this.rows -= rows;
    this.bytes -= bytes;
    this.admitWaiters();
  }

  /** Fails every waiter with `err` (on close). */
  failWaiters(err: Error): void {
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reservation.fail(err);
    }
  }

  private fits(r: Reservation): boolean {
    return this.rows + r.rows <= this.maxRows && this.bytes + r.bytes <= this.maxBytes;
  }

  private take(r: Reservation): void {
    this.rows += r.rows;
    this.bytes += r.bytes;
    r.admit();
  }

  private admitWaiters(): void {
    while (this.waiters.length > 0) {
      const head = this.waiters[0]!;
      if (!this.fits(head.reservation)) return;
      this.waiters.shift();
      clearTimeout(head.timer);
      this.take(head.reservation);
    }
  }

  private expire(waiter: Waiter): void {
    const i = this.waiters.indexOf(waiter);
    if (i < 0) return;
    this.waiters.splice(i, 1);
    waiter.reservation.fail(
      this.fullError(waiter.reservation, `no room freed within ${this.blockTimeoutMs} ms (policy block)`),
    );
    // The expired head may have been what held smaller requests back.
    this.admitWaiters();
  }

  private fullError(r: Reservation, why: string): QtError {
    return new QtError('QT_BUFFER_FULL', `disk buffer ${this.path} cannot take ${r.rows} rows: ${why}`, {
      details: {
        path: this.path,
        rows: this.rows,
        bytes: this.bytes,
        maxRows: this.maxRows,
        maxBytes: this.maxBytes,
        requestedRows: r.rows,
        requestedBytes: r.bytes,
      },
    });
  }
}
