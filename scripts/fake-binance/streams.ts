/**
 * A fake of Binance's market data for the live feed's tests and the failure
 * simulations, on loopback:
 * a combined-stream WebSocket server (`/stream?streams=…`, messages wrapped
 * `{"stream","data"}` as Binance wraps them, the payload shapes copied from
 * Binance's spot docs) and an HTTP server answering `GET /api/v3/klines`
 * with Binance's 12-column kline rows and a used-weight header. The test
 * decides what is sent when; the servers record what they were asked. The
 * caller closes them (test/support/fake-binance-ws.ts does it on teardown).
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

/** One candle as the fake market holds it. */
export interface FakeCandle {
  readonly symbol: string;
  readonly interval: string;
  readonly openTime: number;
  readonly intervalMs: number;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
}

/** A candle of `symbol` opening at `openTime`, prices derived from `n` so each candle differs. */
export function fakeCandle(
  symbol: string,
  openTime: number,
  n: number,
  interval = '1m',
  intervalMs = 60_000,
): FakeCandle {
  const base = 100 + n;
  return {
    symbol,
    interval,
    openTime,
    intervalMs,
    open: base,
    high: base + 2,
    low: base - 1,
    close: base + 1,
    volume: 10 + n,
  };
}

const dec = (x: number) => x.toFixed(8);

/** `<symbol>@kline_<interval>`, as Binance sends it (`x` says whether the candle closed). */
export function klineMessage(c: FakeCandle, closed: boolean): string {
  const stream = `${c.symbol.toLowerCase()}@kline_${c.interval}`;
  const data = {
    e: 'kline',
    E: c.openTime + (closed ? c.intervalMs : c.intervalMs / 2),
    s: c.symbol,
    k: {
      t: c.openTime,
      T: c.openTime + c.intervalMs - 1,
      s: c.symbol,
      i: c.interval,
      f: 100,
      L: 200,
      o: dec(c.open),
      c: dec(c.close),
      h: dec(c.high),
      l: dec(c.low),
      v: dec(c.volume),
      n: 100,
      x: closed,
      q: dec(c.volume * c.close),
      V: dec(c.volume / 2),
      Q: dec((c.volume / 2) * c.close),
      B: '123456',
    },
  };
  return JSON.stringify({ stream, data });
}

/** `<symbol>@trade`, as Binance sends it. */
export function tradeMessage(symbol: string, id: number, price: number, qty: number, time: number): string {
  const data = { e: 'trade', E: time + 1, s: symbol, t: id, p: dec(price), q: dec(qty), T: time, m: true, M: true };
  return JSON.stringify({ stream: `${symbol.toLowerCase()}@trade`, data });
}

/** `<symbol>@bookTicker`, as Binance sends it. */
export function bookTickerMessage(symbol: string, updateId: number, bid: number, ask: number): string {
  const data = { u: updateId, s: symbol, b: dec(bid), B: '31.21000000', a: dec(ask), A: '40.66000000' };
  return JSON.stringify({ stream: `${symbol.toLowerCase()}@bookTicker`, data });
}

/** A Binance REST kline row: `[openTime, open, high, low, close, volume, closeTime, quoteVolume, trades, takerBase, takerQuote, ignore]`. */
export function klineRow(c: FakeCandle): unknown[] {
  return [
    c.openTime,
    dec(c.open),
    dec(c.high),
    dec(c.low),
    dec(c.close),
    dec(c.volume),
    c.openTime + c.intervalMs - 1,
    dec(c.volume * c.close),
    100,
    dec(c.volume / 2),
    dec((c.volume / 2) * c.close),
    '0',
  ];
}

/** One connection the WebSocket server accepted. */
export interface FakeConnection {
  readonly socket: WebSocket;
  /** The stream names of the URL's `streams=` parameter. */
  readonly streams: readonly string[];
  readonly path: string;
  /** Payloads of the pongs this connection sent back. */
  readonly pongs: string[];
}

/** The fake stream server: `url` is the base URL the feed takes (`ws://127.0.0.1:PORT`). */
export interface FakeBinanceStreams {
  readonly url: string;
  /** Every connection ever accepted, oldest first. */
  readonly connections: FakeConnection[];
  /** Connections still open. */
  open(): FakeConnection[];
  /** Sends `message` on every open connection (Binance sends the same data on each). */
  broadcast(message: string): void;
  /** Called with each new connection, after it is recorded. */
  onConnection(handler: (c: FakeConnection) => void): void;
  close(): Promise<void>;
}

/** Starts the fake stream server on 127.0.0.1 (port 0). */
export async function startFakeStreams(): Promise<FakeBinanceStreams> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const connections: FakeConnection[] = [];
  const handlers: ((c: FakeConnection) => void)[] = [];
  wss.on('connection', (socket, request) => {
    const url = new URL(request.url ?? '/', 'ws://localhost');
    const connection: FakeConnection = {
      socket,
      streams: (url.searchParams.get('streams') ?? '').split('/').filter(Boolean),
      path: url.pathname,
      pongs: [],
    };
    socket.on('pong', (data) => connection.pongs.push(String(data)));
    connections.push(connection);
    for (const h of handlers) h(connection);
  });
  const port = (wss.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= new Promise<void>((resolve) => {
      for (const c of wss.clients) c.terminate();
      wss.close(() => resolve());
    });
    return closed;
  };
  const open = () => connections.filter((c) => c.socket.readyState === WebSocket.OPEN);
  return {
    url: `ws://127.0.0.1:${port}`,
    connections,
    open,
    broadcast: (message) => {
      for (const c of open()) c.socket.send(message);
    },
    onConnection: (handler) => handlers.push(handler),
    close,
  };
}

/** One `GET /api/v3/klines` the REST fake answered. */
export interface KlinesRequest {
  readonly symbol: string;
  readonly interval: string;
  readonly startTime: number | undefined;
  readonly endTime: number | undefined;
  readonly limit: number | undefined;
}

/** The fake REST server: the market's candles, and the requests it answered. */
export interface FakeBinanceRest {
  readonly url: string;
  /** Closed candles Binance's database holds; tests add the ones the feed will miss. */
  readonly candles: FakeCandle[];
  readonly requests: KlinesRequest[];
  /** Answers the next `n` requests with this HTTP status and Binance error body instead. */
  failNext(n: number, status: number): void;
  close(): Promise<void>;
}

/** Starts the REST fake on 127.0.0.1 (port 0). */
export async function startFakeRest(): Promise<FakeBinanceRest> {
  const candles: FakeCandle[] = [];
  const requests: KlinesRequest[] = [];
  let failures: { n: number; status: number } = { n: 0, status: 500 };
  let used = 0;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/api/v3/klines') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":-1,"msg":"not found"}');
      return;
    }
    const num = (k: string) => (url.searchParams.has(k) ? Number(url.searchParams.get(k)) : undefined);
    const request: KlinesRequest = {
      symbol: url.searchParams.get('symbol') ?? '',
      interval: url.searchParams.get('interval') ?? '',
      startTime: num('startTime'),
      endTime: num('endTime'),
      limit: num('limit'),
    };
    requests.push(request);
    used += 2;
    if (failures.n > 0) {
      failures = { ...failures, n: failures.n - 1 };
      res.writeHead(failures.status, { 'content-type': 'application/json', 'x-mbx-used-weight-1m': String(used) });
      res.end('{"code":-1000,"msg":"An unknown error occurred while processing the request."}');
      return;
    }
    const rows = candles
      .filter((c) => c.symbol === request.symbol && c.interval === request.interval)
      .filter((c) => (request.startTime ?? -Infinity) <= c.openTime && c.openTime <= (request.endTime ?? Infinity))
      .sort((a, b) => a.openTime - b.openTime)
      .slice(0, request.limit ?? 500)
      .map(klineRow);
    res.writeHead(200, { 'content-type': 'application/json', 'x-mbx-used-weight-1m': String(used) });
    res.end(JSON.stringify(rows));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    candles,
    requests,
    failNext: (n, status) => {
      failures = { n, status };
    },
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
