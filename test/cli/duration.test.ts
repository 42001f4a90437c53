/** The duration and count arguments of `qt`: what parses, and what is refused (exit 2 with the usage, see exit-codes test). */
import test from 'ava';
import { InvalidArgumentError } from 'commander';
import { countOption, durationOption, parseDuration } from '../../src/cli/duration.js';

test('durations as operators write them', (t) => {
  t.is(parseDuration('30s'), 30_000);
  t.is(parseDuration('10m'), 600_000);
  t.is(parseDuration('1h'), 3_600_000);
  t.is(parseDuration('2d'), 172_800_000);
  t.is(parseDuration('500ms'), 500);
  t.is(parseDuration('1h30m'), 5_400_000);
  t.is(parseDuration(' 0s '), 0);
});

test('anything else is not a duration', (t) => {
  for (const bad of ['', '30', '-5s', '1.5h', '10 m', '1w', 'm', 's30', '1h 30m', '99999999999999999d']) {
    t.is(parseDuration(bad), undefined, bad);
    t.throws(() => durationOption(bad), { instanceOf: InvalidArgumentError }, bad);
  }
  t.is(durationOption('45s'), 45_000);
});

test('counts are positive whole numbers', (t) => {
  t.is(countOption('1'), 1);
  t.is(countOption('200000'), 200_000);
  for (const bad of ['0', '-1', '1.5', 'ten', '', '1e3']) {
    t.throws(() => countOption(bad), { instanceOf: InvalidArgumentError }, bad);
  }
});
