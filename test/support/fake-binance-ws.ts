/**
 * The fake Binance market data (scripts/fake-binance/streams.ts) for tests:
 * the same servers, closed on the test's teardown.
 */
import type { ExecutionContext } from 'ava';
import {
  type FakeBinanceRest,
  type FakeBinanceStreams,
  startFakeRest as startRest,
  startFakeStreams as startStreams,
} from '../../scripts/fake-binance/streams.js';

export {
  bookTickerMessage,
  type FakeBinanceRest,
  type FakeBinanceStreams,
  type FakeCandle,
  type FakeConnection,
  fakeCandle,
  type KlinesRequest,
  klineMessage,
  klineRow,
  tradeMessage,
} from '../../scripts/fake-binance/streams.js';

/** Starts the fake stream server on 127.0.0.1 (port 0); closed on teardown. */
export async function startFakeStreams(t: ExecutionContext): Promise<FakeBinanceStreams> {
  const streams = await startStreams();
  t.teardown(() => streams.close());
  return streams;
}

/** Starts the REST fake on 127.0.0.1 (port 0); closed on teardown. */
export async function startFakeRest(t: ExecutionContext): Promise<FakeBinanceRest> {
  const rest = await startRest();
  t.teardown(() => rest.close());
  return rest;
}
