/**
 * What Binance sends the live feed, as zod schemas and the mapping to the
 * feed's own types: the combined-stream envelope `{"stream","data"}` of the
 * WebSocket, its kline, trade and book-ticker payloads, and the kline rows of
 * `GET /api/v3/klines`. Everything from the socket or the REST answer goes
 * through here; a message that does not fit is reported as malformed with
 * the reason, never thrown.
 */
import { z } from 'zod';
import type { FeedCandle, Tick } from './feed.js';

/** Where ticks come from: every trade (`<symbol>@trade`) or every best bid/ask change (`<symbol>@bookTicker`, mid price). */
export type BinanceTickStream = 'trades' | 'bookTicker';

/**
 * Kline intervals the feed accepts, with their length. Binance also has
 * `1w` and `1M`; the event catalog's `market.candle` interval is
 * `<n><s|m|h|d>` and a month has no fixed length, so they are left out.
 */
export const KLINE_INTERVAL_MS: Readonly<Record<string, number>> = {
  '1s': 1_000,
  '1m': 60_000,
  '3m': 180_000,
  '5m': 300_000,
  '15m': 900_000,
  '30m': 1_800_000,
  '1h': 3_600_000,
  '2h': 7_200_000,
  '4h': 14_400_000,
  '6h': 21_600_000,
  '8h': 28_800_000,
  '12h': 43_200_000,
  '1d': 86_400_000,
  '3d': 259_200_000,
};

/** The length of a kline interval in ms; throws on one the feed does not accept (config validates first). */
export function klineIntervalMs(interval: string): number {
  const ms = KLINE_INTERVAL_MS[interval];
  if (ms === undefined) throw new Error(`unsupported kline interval ${interval}`);
  return ms;
}

/** The stream names of one combined connection: a kline stream per symbol and interval, and a tick stream per symbol. */
export function streamNames(
  symbols: readonly string[],
  intervals: readonly string[],
  ticks: BinanceTickStream,
): string[] {
  const tickSuffix = ticks === 'trades' ? 'trade' : 'bookTicker';
  return symbols.flatMap((s) => {
    const lower = s.toLowerCase();
    return [...intervals.map((i) => `${lower}@kline_${i}`), `${lower}@${tickSuffix}`];
  });
}

/** The combined-stream URL (`<base>/stream?streams=a/b/c`): the subscription travels in the URL, so every reconnect resubscribes. */
export function combinedStreamUrl(baseUrl: string, streams: readonly string[]): string {
  return `${baseUrl.replace(/\/+$/, '')}/stream?streams=${streams.join('/')}`;
}

/** A decimal string as Binance writes prices and quantities, as a finite number. */
const decimal = z
  .string()
  .regex(/^\d+(\.\d+)?$/, 'a decimal string')
  .transform(Number)
  .pipe(z.number().finite());
const positiveDecimal = decimal.pipe(z.number().positive('a price above 0'));
const epochMs = z.number().int().nonnegative();
const symbol = z.string().regex(/^[A-Z0-9]{2,20}$/);

/** The payload of `<symbol>@kline_<interval>`; the fields the feed uses (others are allowed and ignored). */
const KlinePayloadSchema = z.object({
  e: z.literal('kline'),
  s: symbol,
  k: z.object({
    t: epochMs,
    T: epochMs,
    s: symbol,
    i: z.string(),
    o: positiveDecimal,
    c: positiveDecimal,
    h: positiveDecimal,
    l: positiveDecimal,
    v: decimal,
    x: z.boolean(),
  }),
});

/** The payload of `<symbol>@trade`. */
const TradePayloadSchema = z.object({
  e: z.literal('trade'),
  s: symbol,
  t: z.number().int().nonnegative(),
  p: positiveDecimal,
  q: decimal,
  T: epochMs,
});

/** The payload of `<symbol>@bookTicker` (no event type and no time: Binance sends neither). */
const BookTickerPayloadSchema = z.object({
  u: z.number().int().nonnegative(),
  s: symbol,
  b: positiveDecimal,
  B: decimal,
  a: positiveDecimal,
  A: decimal,
});

/** The combined-stream envelope. */
const EnvelopeSchema = z.object({ stream: z.string().min(1), data: z.unknown() });

/** One message of the socket, understood. */
export type BinanceMessage =
  | { readonly kind: 'kline'; readonly candle: FeedCandle; readonly closed: boolean }
  | { readonly kind: 'trade'; readonly tick: Tick; readonly tradeId: number }
  | { readonly kind: 'bookTicker'; readonly tick: Tick; readonly updateId: number }
  | { readonly kind: 'malformed'; readonly reason: string };

function issueText(error: z.ZodError): string {
  const issue = error.issues[0];
  return `${issue?.path.join('.') || 'data'}: ${issue?.message ?? 'invalid'}`;
}

/**
 * Parses one text frame of a combined stream. The stream name decides the
 * payload schema; `receivedAt` stamps a book ticker, which carries no time.
 */
export function parseStreamMessage(text: string, receivedAt: number): BinanceMessage {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { kind: 'malformed', reason: 'not JSON' };
  }
  const envelope = EnvelopeSchema.safeParse(json);
  if (!envelope.success)
    return { kind: 'malformed', reason: `not a combined-stream message (${issueText(envelope.error)})` };
  const { stream, data } = envelope.data;
  if (/@kline_/.test(stream)) {
    const p = KlinePayloadSchema.safeParse(data);
    if (!p.success) return { kind: 'malformed', reason: `${stream}: ${issueText(p.error)}` };
    const k = p.data.k;
    const candle = {
      symbol: k.s,
      interval: k.i,
      openTime: k.t,
      open: k.o,
      high: k.h,
      low: k.l,
      close: k.c,
      volume: k.v,
    };
    return { kind: 'kline', candle, closed: k.x };
  }
  if (stream.endsWith('@trade')) {
    const p = TradePayloadSchema.safeParse(data);
    if (!p.success) return { kind: 'malformed', reason: `${stream}: ${issueText(p.error)}` };
    const tick = { symbol: p.data.s, price: p.data.p, volume: p.data.q, at: p.data.T };
    return { kind: 'trade', tick, tradeId: p.data.t };
  }
  if (stream.endsWith('@bookTicker')) {
    const p = BookTickerPayloadSchema.safeParse(data);
    if (!p.success) return { kind: 'malformed', reason: `${stream}: ${issueText(p.error)}` };
    const tick = { symbol: p.data.s, price: (p.data.b + p.data.a) / 2, volume: 0, at: receivedAt };
    return { kind: 'bookTicker', tick, updateId: p.data.u };
  }
  return { kind: 'malformed', reason: `unknown stream ${stream}` };
}

/**
 * One row of `GET /api/v3/klines`: `[openTime, open, high, low, close,
 * volume, closeTime, quoteVolume, trades, takerBuyBase, takerBuyQuote,
 * ignore]`. Only the first seven are read; Binance may add columns.
 */
const KlineRowSchema = z
  .tuple([epochMs, positiveDecimal, positiveDecimal, positiveDecimal, positiveDecimal, decimal, epochMs])
  .rest(z.unknown());

/** The answer of `GET /api/v3/klines`. */
export const KlineRowsSchema = z.array(KlineRowSchema);

/** REST kline rows as candles of `symbol` and `interval`. */
export function candlesFromRows(
  rows: z.output<typeof KlineRowsSchema>,
  symbolName: string,
  interval: string,
): FeedCandle[] {
  return rows.map(([openTime, open, high, low, close, volume]) => ({
    symbol: symbolName,
    interval,
    openTime,
    open,
    high,
    low,
    close,
    volume,
  }));
}
