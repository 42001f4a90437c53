/**
 * The WebSocket connection of the live Binance feed, kept open: connects to
 * one combined-stream URL (which carries the subscription, so every new
 * connection is subscribed again), answers pings (`ws` sends the pong with
 * the ping's payload itself), reconnects with jittered exponential backoff
 * after a drop, tears down a connection that has gone silent, and renews the
 * connection before Binance cuts it at 24 hours: the new connection is
 * opened first and the old one closed only once the new one is open, so
 * both deliver for a moment and nothing is missed (the feed drops what
 * arrives twice). It knows nothing of what the messages say.
 */
import { WebSocket } from 'ws';
import { type Backoff, backoffDelay } from '../../backoff.js';
import type { Logger } from '../../log.js';

/** The connection as `GET /feed` shows it. */
export type StreamState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** How long a WebSocket handshake may take before the attempt counts as failed. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** How long a closing connection may take to finish its close handshake before it is cut. */
const CLOSE_GRACE_MS = 1_000;

/** Options of {@link BinanceStream}. */
export interface BinanceStreamOptions {
  readonly url: string;
  /** A connection is replaced after this long (Binance cuts at 24 h). */
  readonly renewAfterMs: number;
  /** A connection that brings neither a message nor a ping for this long is cut and replaced. */
  readonly staleAfterMs: number;
  readonly backoff: Backoff;
  readonly random?: () => number;
  readonly log: Logger;
  /** One text frame, with the time it arrived. */
  readonly onMessage: (text: string, receivedAt: number) => void;
  readonly now?: () => number;
}

/** Counters for the feed's status. */
export interface StreamCounts {
  readonly state: StreamState;
  /** Connections opened after a drop (not counting the first or renewals). */
  readonly reconnects: number;
  /** Connections replaced before Binance's 24 h limit. */
  readonly renewals: number;
  readonly pingsAnswered: number;
}

/** See the file comment. `start()` once; `close()` stops it for good. */
export class BinanceStream {
  readonly #o: BinanceStreamOptions;
  readonly #now: () => number;
  #primary: WebSocket | undefined;
  /** A connection being opened: the first, a reconnect, or a renewal. */
  #candidate: WebSocket | undefined;
  /** Sockets this side closed on purpose; their close is not a drop. */
  readonly #retired = new WeakSet<WebSocket>();
  #everOpen = false;
  #failures = 0;
  #reconnects = 0;
  #renewals = 0;
  #pings = 0;
  #lastActivity = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #staleTimer: NodeJS.Timeout | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: BinanceStreamOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  get counts(): StreamCounts {
    return { state: this.state, reconnects: this.#reconnects, renewals: this.#renewals, pingsAnswered: this.#pings };
  }

  get state(): StreamState {
    if (this.#closed) return 'closed';
    if (this.#primary) return 'open';
    return this.#everOpen || this.#failures > 0 ? 'reconnecting' : 'connecting';
  }

  start(): void {
    if (this.#closed || this.#primary || this.#candidate || this.#retryTimer) return;
    this.#open();
  }

  /** Closes the connections and stops every timer; no reconnect follows. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      clearTimeout(this.#retryTimer);
      clearTimeout(this.#renewTimer);
      clearInterval(this.#staleTimer);
      const sockets = [this.#primary, this.#candidate].filter((s): s is WebSocket => s !== undefined);
      this.#primary = undefined;
      this.#candidate = undefined;
      await Promise.all(sockets.map((s) => this.#retire(s)));
    })();
    return this.#closed;
  }

  #open(): void {
    this.#retryTimer = undefined;
    if (this.#closed) return;
    const ws = new WebSocket(this.#o.url, { handshakeTimeout: HANDSHAKE_TIMEOUT_MS });
    this.#candidate = ws;
    let gotMessage = false;
    ws.on('open', () => this.#opened(ws));
    ws.on('message', (data, isBinary) => {
      if (ws !== this.#primary && ws !== this.#candidate) return;
      this.#lastActivity = this.#now();
      if (!gotMessage && ws === this.#primary) {
        gotMessage = true;
        // Only a connection that delivers resets the backoff: one that opens and drops at once keeps it growing.
        this.#failures = 0;
      }
      if (!isBinary) this.#o.onMessage(String(data), this.#lastActivity);
    });
    ws.on('ping', () => {
      this.#pings++;
      if (ws === this.#primary) this.#lastActivity = this.#now();
    });
    ws.on('error', (err) => {
      if (!this.#retired.has(ws)) this.#o.log.warn({ err: err.message }, 'binance stream error');
    });
    ws.on('close', (code, reason) => this.#lost(ws, code, String(reason)));
  }

  #opened(ws: WebSocket): void {
    if (ws !== this.#candidate) return;
    const renewal = this.#primary !== undefined;
    const old = this.#primary;
    this.#candidate = undefined;
    this.#primary = ws;
    this.#lastActivity = this.#now();
    if (renewal) {
      this.#renewals++;
      this.#o.log.info({ renewals: this.#renewals }, 'binance stream renewed');
    } else if (this.#everOpen) {
      this.#reconnects++;
      this.#o.log.info({ reconnects: this.#reconnects }, 'binance stream reconnected');
    } else {
      this.#o.log.info('binance stream open');
    }
    this.#everOpen = true;
    if (old) void this.#retire(old);
    clearTimeout(this.#renewTimer);
    this.#renewTimer = setTimeout(() => this.#renew(), this.#o.renewAfterMs);
    clearInterval(this.#staleTimer);
    this.#staleTimer = setInterval(() => this.#checkStale(), Math.max(10, Math.min(this.#o.staleAfterMs / 4, 5_000)));
  }

  #renew(): void {
    if (this.#closed || this.#candidate) return;
    this.#o.log.info({ afterMs: this.#o.renewAfterMs }, 'binance stream renewing before the 24 h limit');
    this.#open();
  }

  #checkStale(): void {
    const primary = this.#primary;
    if (primary === undefined) return;
    const silentMs = this.#now() - this.#lastActivity;
    if (silentMs < this.#o.staleAfterMs) return;
    this.#o.log.warn({ silentMs }, 'binance stream silent; cutting it');
    primary.terminate();
  }

  #lost(ws: WebSocket, code: number, reason: string): void {
    if (this.#retired.has(ws) || this.#closed) return;
    if (ws === this.#candidate) {
      this.#candidate = undefined;
    } else if (ws === this.#primary) {
      this.#primary = undefined;
      clearTimeout(this.#renewTimer);
      clearInterval(this.#staleTimer);
      // A renewal already under way takes over when it opens.
      if (this.#candidate) return;
    } else {
      return;
    }
    this.#failures++;
    // A retry already scheduled (a failed renewal) opens the next connection.
    if (this.#retryTimer) return;
    const delayMs = backoffDelay(this.#o.backoff, this.#failures, this.#o.random);
    const renewing = this.#primary !== undefined;
    this.#o.log.warn(
      { code, reason: reason || undefined, attempt: this.#failures, delayMs, renewing },
      renewing ? 'binance stream renewal failed; retrying' : 'binance stream lost; reconnecting',
    );
    this.#retryTimer = setTimeout(() => this.#open(), delayMs);
  }

  /** Closes `ws` on purpose (close handshake, cut after a grace period); resolves once it is closed. */
  #retire(ws: WebSocket): Promise<void> {
    this.#retired.add(ws);
    if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const cut = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
      ws.once('close', () => {
        clearTimeout(cut);
        resolve();
      });
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000, 'closing');
    });
  }
}
