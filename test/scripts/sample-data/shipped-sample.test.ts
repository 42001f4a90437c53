import { readFileSync } from 'node:fs';
import test from 'ava';
import { generateSampleCsv } from '../../../scripts/sample-data/sample-data.js';
import { SHIPPED_SAMPLE_OPTIONS, SHIPPED_SAMPLE_PATH } from '../../../scripts/sample-data/shipped-sample.js';
import { createCsvFeed, parseOhlcvCsv } from '../../../src/actors/marketdata/csv-feed.js';

const shipped = readFileSync(new URL(`../../../${SHIPPED_SAMPLE_PATH}`, import.meta.url), 'utf8');

test('the shipped sample is exactly what the project generates (npm run sample-data)', (t) => {
  t.is(shipped, generateSampleCsv(SHIPPED_SAMPLE_OPTIONS));
});

test('the shipped sample parses and replays to the end', (t) => {
  const candles = parseOhlcvCsv(shipped, 'BTCUSDT');
  t.is(candles.length, 240);
  const feed = createCsvFeed(candles, { startAt: 0, speed: 1_000 });
  let ticks = 0;
  for (let now = 0; !feed.done && now < 10_000_000; now += 1_000) ticks += feed.next(now).length;
  t.true(feed.done);
  t.is(ticks, 240 * 4);
});
