/**
 * Writes the project's sample OHLCV file (4 hours of 1-minute BTCUSDT
 * candles from the seeded synthetic walk) for CSV replay:
 * `npm run sample-data`, then `QT_FEED_CSV=data/sample/BTCUSDT-1m.csv npm start`.
 */
import { writeFile } from 'node:fs/promises';
import { generateSampleCsv } from './sample-data/sample-data.js';
import { SHIPPED_SAMPLE_OPTIONS, SHIPPED_SAMPLE_PATH } from './sample-data/shipped-sample.js';

await writeFile(SHIPPED_SAMPLE_PATH, generateSampleCsv(SHIPPED_SAMPLE_OPTIONS));
process.stdout.write(`wrote ${SHIPPED_SAMPLE_PATH}\n`);
