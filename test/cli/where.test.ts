/** `qt tail --where`: dotted paths into the envelope, `=` and `!=`, numbers, a missing path. */
import test from 'ava';
import { InvalidArgumentError } from 'commander';
import { collectWhere, matchesAll, parseWhere } from '../../src/cli/where.js';

const env = {
  type: 'order.filled',
  producer: 'vm.execution',
  seq: 7,
  data: { symbol: 'BTCUSDT', price: 60_000, quantity: 0.5, reduceOnly: false, note: null, nested: { a: 'x=y' } },
};
const match = (...filters: string[]) =>
  matchesAll(
    env,
    filters.map((f) => parseWhere(f)),
  );

test('= is an exact match on strings', (t) => {
  t.true(match('data.symbol=BTCUSDT'));
  t.false(match('data.symbol=btcusdt'));
  t.false(match('data.symbol=BTC'));
  t.true(match('producer=vm.execution'));
  t.true(match('data.nested.a=x=y'), 'only the first = separates path and value');
});

test('numbers compare as numbers, booleans and null as written', (t) => {
  t.true(match('data.price=60000'));
  t.true(match('data.price=6e4'));
  t.true(match('data.quantity=0.50'));
  t.false(match('data.price=60000.5'));
  t.false(match('data.price='), 'an empty value is not 0');
  t.true(match('seq=7'));
  t.true(match('data.reduceOnly=false'));
  t.true(match('data.note=null'));
});

test('!= is the negation, and a missing path passes it', (t) => {
  t.true(match('data.symbol!=ETHUSDT'));
  t.false(match('data.symbol!=BTCUSDT'));
  t.true(match('data.side!=buy'), 'missing path');
  t.false(match('data.side=buy'), 'missing path never equals');
  t.false(match('data.nested=x'), 'an object never equals');
  t.false(match('data.symbol.length=7'), 'no stepping into a string');
});

test('several filters must all hold', (t) => {
  t.true(match('data.symbol=BTCUSDT', 'type=order.filled'));
  t.false(match('data.symbol=BTCUSDT', 'type=order.placed'));
  t.deepEqual(
    collectWhere('b!=2', collectWhere('a=1')).map((f) => [f.path, f.op, f.value]),
    [
      [['a'], '=', '1'],
      [['b'], '!=', '2'],
    ],
  );
});

test('a filter without a path and an operator is refused', (t) => {
  for (const bad of ['symbol', '=BTCUSDT', 'data..symbol=x', '.data=x', 'data symbol=x']) {
    t.throws(() => parseWhere(bad), { instanceOf: InvalidArgumentError }, bad);
  }
});
