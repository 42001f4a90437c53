import test from 'ava';
import { createKeys } from '../../src/streams/keys.js';

const keys = createKeys('qt');

/** Redis Cluster's slot rule: only the text inside the first {...} is hashed. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open + 1);
  return open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key;
}

test('stream(topic) is prefix:stream:{topic}', (t) => {
  t.is(keys.stream('order'), 'qt:stream:{order}');
});

test('producerSeqs(topic) shares the topic hash tag', (t) => {
  t.is(keys.producerSeqs('order'), 'qt:seq:{order}');
  t.is(hashTag(keys.producerSeqs('order')), hashTag(keys.stream('order')));
});

test('groupSeqs(topic, group) shares the topic hash tag and names the group', (t) => {
  t.is(keys.groupSeqs('order', 'execution'), 'qt:gseq:{order}:execution');
  t.is(hashTag(keys.groupSeqs('order', 'execution')), 'order');
});

test('gaps(topic) shares the topic hash tag', (t) => {
  t.is(keys.gaps('market'), 'qt:gaps:{market}');
  t.is(hashTag(keys.gaps('market')), hashTag(keys.stream('market')));
});

test('actorVersion(actor) shares the actor tag with its snapshot', (t) => {
  t.is(keys.actorVersion('risk-safety'), 'qt:actor:{risk-safety}:version');
  t.throws(() => keys.actorVersion('a b'), { code: 'QT_KEY_PART_INVALID' } as never);
});

test('actorSnapshot(actor) is one key per actor, tagged by the actor', (t) => {
  t.is(keys.actorSnapshot('risk-safety'), 'qt:actor:{risk-safety}:snapshot');
  t.throws(() => keys.actorSnapshot('a:b'), { code: 'QT_KEY_PART_INVALID' } as never);
});

test('projection(name) is one key per read model', (t) => {
  t.is(keys.projection('ess'), 'qt:projection:{ess}');
});

test('setting(name) is one key per operator setting', (t) => {
  t.is(keys.setting('risk-policy'), 'qt:setting:{risk-policy}');
});

test('venueLimits(venue) is one hash per venue, shared by every process', (t) => {
  t.is(keys.venueLimits('binance'), 'qt:venue:{binance}:limits');
  t.throws(() => keys.venueLimits('bin ance'), { message: /venue "bin ance"/ });
});

test('dlq() is the stream of the dlq topic', (t) => {
  t.is(keys.dlq(), 'qt:stream:{dlq}');
  t.is(keys.dlq(), keys.stream('dlq'));
});

test('dlqReplays() is one hash in the slot of the dlq stream, not a stream', (t) => {
  t.is(keys.dlqReplays(), 'qt:replays:{dlq}');
  t.is(hashTag(keys.dlqReplays()), hashTag(keys.dlq()));
  t.is(keys.topicOfStream(keys.dlqReplays()), undefined);
});

test('streamPattern() matches stream keys and topicOfStream() inverts stream()', (t) => {
  t.is(keys.streamPattern(), 'qt:stream:{*}');
  t.is(keys.topicOfStream(keys.stream('portfolio')), 'portfolio');
  t.is(keys.topicOfStream('qt:seq:{order}'), undefined);
  t.is(keys.topicOfStream('other:stream:{order}'), undefined);
});

test('the prefix is configurable', (t) => {
  const k = createKeys('qt-test_1');
  t.is(k.stream('order'), 'qt-test_1:stream:{order}');
  t.is(k.prefix, 'qt-test_1');
});

test('parts that would break a key or its hash tag are refused', (t) => {
  for (const bad of ['', 'a:b', 'a{b}', 'a b', '{x}']) {
    t.throws(() => keys.stream(bad), { code: 'QT_KEY_PART_INVALID' } as never, `topic ${JSON.stringify(bad)}`);
  }
  t.throws(() => keys.groupSeqs('order', 'g:1'), { code: 'QT_KEY_PART_INVALID' } as never);
  t.throws(() => createKeys('qt:x'), { code: 'QT_KEY_PART_INVALID' } as never);
});
