/**
 * The fake Binance of the suite, which lives in scripts/fake-binance/ (the
 * failure simulations run against it too): re-exported here so tests keep
 * one import.
 */
export { type SimulatedClock, simulatedClock } from '../../scripts/fake-binance/clock.js';
export { FAULTS, type FakeFault } from '../../scripts/fake-binance/faults.js';
export {
  type FakeBan,
  type FakeBinance,
  type FakeBinanceOptions,
  type FakeOrder,
  type FakeRequest,
  startFakeBinance,
} from '../../scripts/fake-binance/server.js';
