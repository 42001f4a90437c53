import { QtError } from '../errors.js';
import { KEY_PART_PATTERN } from '../events/names.js';

/**
 * The one place Redis keys are built. Every key of a topic carries the topic
 * as a Cluster hash tag (`qt:stream:{order}`), so a Lua script or MULTI that
 * touches a topic's stream and its bookkeeping stays in one slot.
 *
 * | builder | key | type |
 * |---|---|---|
 * | `stream(topic)` | `qt:stream:{topic}` | stream of events |
 * | `producerSeqs(topic)` | `qt:seq:{topic}` | hash producer → last appended seq |
 * | `groupSeqs(topic, group)` | `qt:gseq:{topic}:group` | hash of what a group has processed |
 * | `dlq()` | `qt:stream:{dlq}` | stream of dead letters |
 * | `dlqReplays()` | `qt:replays:{dlq}` | hash dlq entry id → its replay record (JSON), written by `qt dlq replay` |
 * | `gaps(topic)` | `qt:gaps:{topic}` | hash producer → seq gaps seen on append |
 * | `actorSnapshot(actor)` | `qt:actor:{actor}:snapshot` | an actor's persisted snapshot (JSON) |
 * | `actorVersion(actor)` | `qt:actor:{actor}:version` | commits of an actor so far: the fence against a second live host |
 * | `projection(name)` | `qt:projection:{name}` | a read model other services check (JSON), e.g. the ESS state |
 * | `setting(name)` | `qt:setting:{name}` | an operator-changed setting (JSON), e.g. the risk policy |
 * | `venueLimits(venue)` | `qt:venue:{venue}:limits` | hash: a venue's request-weight / order-count budget and ban, shared by every process |
 * | `lock(name)` | `qt:lock:{name}` | a lease one process holds at a time (its owner id, with an expiry), e.g. the restart orchestrator's |
 */
export interface Keys {
  readonly prefix: string;
  stream(topic: string): string;
  producerSeqs(topic: string): string;
  groupSeqs(topic: string, group: string): string;
  dlq(): string;
  /** The record of dead letters put back by `qt dlq replay` (same slot as the dlq stream). */
  dlqReplays(): string;
  gaps(topic: string): string;
  actorSnapshot(actor: string): string;
  actorVersion(actor: string): string;
  projection(name: string): string;
  setting(name: string): string;
  venueLimits(venue: string): string;
  lock(name: string): string;
  /** Pattern matching every topic stream, for SCAN. */
  streamPattern(): string;
  /** The topic of a stream key built by {@link Keys.stream}, or undefined. */
  topicOfStream(key: string): string | undefined;
}

/** The topic name of dead letters. */
export const DLQ_TOPIC = 'dlq';

/** Throws QT_KEY_PART_INVALID unless `part` is safe inside a key. */
export function assertKeyPart(kind: string, part: string): string {
  if (!KEY_PART_PATTERN.test(part)) {
    throw new QtError(
      'QT_KEY_PART_INVALID',
      `${kind} "${part}" is not usable in a Redis key (letters, digits, _ . - only)`,
      { details: { kind, part } },
    );
  }
  return part;
}

/** Creates the key builder for a prefix (default `qt`). */
export function createKeys(prefix: string): Keys {
  assertKeyPart('prefix', prefix);
  const tag = (topic: string) => `{${assertKeyPart('topic', topic)}}`;
  const streamHead = `${prefix}:stream:`;
  return Object.freeze({
    prefix,
    stream: (topic: string) => `${streamHead}${tag(topic)}`,
    producerSeqs: (topic: string) => `${prefix}:seq:${tag(topic)}`,
    groupSeqs: (topic: string, group: string) => `${prefix}:gseq:${tag(topic)}:${assertKeyPart('group', group)}`,
    dlq: () => `${streamHead}{${DLQ_TOPIC}}`,
    dlqReplays: () => `${prefix}:replays:{${DLQ_TOPIC}}`,
    gaps: (topic: string) => `${prefix}:gaps:${tag(topic)}`,
    setting: (name: string) => `${prefix}:setting:{${assertKeyPart('setting', name)}}`,
    projection: (name: string) => `${prefix}:projection:{${assertKeyPart('projection', name)}}`,
    venueLimits: (venue: string) => `${prefix}:venue:{${assertKeyPart('venue', venue)}}:limits`,
    lock: (name: string) => `${prefix}:lock:{${assertKeyPart('lock', name)}}`,
    actorSnapshot: (actor: string) => `${prefix}:actor:{${assertKeyPart('actor', actor)}}:snapshot`,
    actorVersion: (actor: string) => `${prefix}:actor:{${assertKeyPart('actor', actor)}}:version`,
    streamPattern: () => `${streamHead}{*}`,
    topicOfStream: (key: string) => {
      if (!key.startsWith(streamHead)) return undefined;
      const m = /^\{([^{}]+)\}$/.exec(key.slice(streamHead.length));
      return m?.[1];
    },
  });
}
