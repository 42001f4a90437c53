import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import { type Actor, type AnyStateMachine, createActor, type EventFromLogic, type Snapshot } from 'xstate';
import { QtError } from '../errors.js';
import { EVENT_CATALOG, EVENT_SCHEMA_VERSION, type EventType, topicOf } from '../events/catalog.js';
import type { Envelope } from '../events/envelope.js';
import { type Logger, silentLogger } from '../log.js';
import { commitActor, type Projection } from '../streams/actor-commit.js';
import type { AppendBatch } from '../streams/append.js';
import { type CommitBatch, type Committer, recordCommitter } from '../streams/commit-record.js';
import { StreamConsumer, type StreamConsumerOptions } from '../streams/consumer.js';
import { assertKeyPart, type Keys } from '../streams/keys.js';
import { Mutex } from '../streams/mutex.js';
import { primeOutputMetrics, recordOutputs } from './output-metrics.js';

/** What the host knows about a consumed event besides the event: when it is applied. */
export interface Delivery {
  /** The host clock (epoch ms) when the event is applied to the actor. */
  readonly receivedAt: number;
}

/** An event an actor asks to publish. */
export interface ActorOutput {
  readonly type: EventType;
  readonly data: unknown;
}

/**
 * What the host needs to know about one kind of actor. The machine is pure;
 * the two functions are the only bridge between envelopes and machine events.
 */
export interface ActorSpec<M extends AnyStateMachine> {
  /** Actor name: its consumer group, snapshot key and output producer suffix. */
  readonly name: string;
  readonly machine: M;
  /** Topics whose events the actor consumes. */
  readonly topics: readonly string[];
  /**
   * Machine events for one consumed event; none means "not for me" (it is
   * still acked). Pure: everything a decision depends on comes from the
   * event or from `delivery`, whose values the actor must record in what it
   * publishes if a replay is to reproduce the decision.
   */
  toEvents(event: Envelope, delivery: Delivery): readonly EventFromLogic<M>[];
  /** Events the actor asked to publish since the last call, removing them from the actor. */
  takeOutputs(actor: Actor<M>): readonly ActorOutput[];
  /** Read models written in the same commit as the snapshot (e.g. the ESS state other services check). */
  project?(snapshot: ReturnType<Actor<M>['getSnapshot']>): readonly Projection[];
}

/** Settings of {@link ActorHost}. */
export interface ActorHostOptions<M extends AnyStateMachine> {
  readonly spec: ActorSpec<M>;
  /** Command connection; each consumer opens its own blocking reader from it. */
  readonly redis: Redis;
  readonly keys: Keys;
  /** The process's producer id; the actor publishes as `<producer>.<actor name>`. */
  readonly producer: string;
  /** Service name written into `source` of what the actor publishes. */
  readonly source: string;
  /** Stable consumer name (the same across restarts of this process). */
  readonly consumer: string;
  readonly consumerOptions?: Partial<
    Pick<StreamConsumerOptions, 'blockMs' | 'readCount' | 'maxDeliveries' | 'claimIdleMs' | 'retryDelayMs'>
  >;
  readonly log?: Logger;
  /** The consumers' bus metrics, and the trading series counted from committed outputs (output-metrics.ts). */
  readonly registry?: Registry;
  readonly now?: () => number;
}

interface PendingOutput {
  readonly output: ActorOutput;
  readonly correlationId: string;
  readonly causationId: string | undefined;
}

/**
 * Runs one actor on its consumer groups, event-sourced (docs/architecture.md,
 * "Actors and event sourcing").
 *
 * For every consumed event: decode → `send` to the actor → collect what it
 * asks to publish. Then, per batch, ONE script (ACTOR_COMMIT_LUA) holds the
 * XACK with the group's processed-record, the actor's persisted snapshot and
 * projections, and the actor's output events, appended idempotently under
 * the actor's own producer id. A crash before it runs leaves nothing done:
 * the events are redelivered to the snapshot that did not include them.
 * Restarting therefore never loses or re-applies an event, and never
 * publishes an output twice.
 *
 * The commit is fenced by the actor's version (commits so far): a second
 * live host of the same actor, or a commit re-sent after a lost reply, finds
 * the version moved and is refused as a whole (QT_ACTOR_STALE), as is one
 * whose outputs another live instance of the producer owns
 * (QT_PUBLISH_OUT_OF_ORDER). Nothing of a refused commit is written: no ack,
 * no snapshot, no output; the host reloads and the entries are redelivered.
 *
 * Consumers of one actor share a lock, so a snapshot never contains an event
 * whose ack is not in the same or an earlier commit. A handler that fails
 * rolls the actor back to the snapshot before it; a commit that fails makes
 * the host reload the snapshot and output seqs from Redis before the next
 * event, since Redis alone knows whether it landed.
 */
export class ActorHost<M extends AnyStateMachine> {
  readonly spec: ActorSpec<M>;
  readonly #redis: Redis;
  readonly #keys: Keys;
  readonly #outputProducer: string;
  readonly #instance = uuidv7();
  readonly #source: string;
  readonly #consumerName: string;
  readonly #consumerOptions: ActorHostOptions<M>['consumerOptions'];
  readonly #log: Logger;
  readonly #registry: Registry | undefined;
  readonly #now: () => number;
  readonly #lock = new Mutex();
  readonly #consumers: StreamConsumer[] = [];
  readonly #nextSeq = new Map<string, number>();
  readonly #ackOnly: Committer;
  #pending: PendingOutput[] = [];
  /** The actor's version in Redis as this host last loaded or wrote it. */
  #version = 0;
  #actor: Actor<M> | undefined;
  #dirty = false;
  #started: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: ActorHostOptions<M>) {
    this.spec = options.spec;
    this.#redis = options.redis;
    this.#keys = options.keys;
    this.#outputProducer = assertKeyPart('producer', `${options.producer}.${options.spec.name}`);
    this.#source = options.source;
    this.#consumerName = options.consumer;
    this.#consumerOptions = options.consumerOptions;
    this.#log = (options.log ?? silentLogger).child({ actor: options.spec.name });
    this.#registry = options.registry;
    if (options.registry) primeOutputMetrics(options.registry, options.source);
    this.#now = options.now ?? Date.now;
    this.#ackOnly = recordCommitter(options.redis);
  }

  /** The actor's current snapshot (for HTTP reads and tests). */
  get snapshot(): ReturnType<Actor<M>['getSnapshot']> {
    return this.#live().getSnapshot();
  }

  /** The snapshot as persisted (what a restart restores). */
  persistedSnapshot(): Snapshot<unknown> {
    return this.spec.machine.getPersistedSnapshot(this.#live().getSnapshot()) as Snapshot<unknown>;
  }

  /**
   * Restores the actor from Redis, then starts one consumer per topic (own
   * pending entries first). Idempotent; if Redis fails midway, nothing is
   * left running and start() may be called again.
   */
  start(): Promise<void> {
    this.#started ??= this.#startConsumers().catch(async (err) => {
      // Redis went away mid-start: undo, so start() can simply be called again.
      await Promise.all(this.#consumers.splice(0).map((c) => c.close()));
      this.#started = undefined;
      throw err;
    });
    return this.#started;
  }

  async #startConsumers(): Promise<void> {
    await this.#reload();
    for (const topic of this.spec.topics) {
      const consumer = new StreamConsumer({
        redis: this.#redis,
        keys: this.#keys,
        topic,
        group: this.spec.name,
        consumer: this.#consumerName,
        ...this.#consumerOptions,
        ...(this.#registry ? { registry: this.#registry } : {}),
        log: this.#log,
        lock: this.#lock,
        handler: (event) => this.#apply(event),
        committer: (batch) => this.#commit(batch),
        // Every effect of the actor is in its commit, which refuses a batch
        // holding an event already processed: fresh entries skip the check.
        dedupAtCommit: true,
        onCommitError: (err) => {
          const code = (err as { code?: unknown }).code;
          this.#log[code === 'QT_ACTOR_STALE' || code === 'QT_PUBLISH_OUT_OF_ORDER' ? 'error' : 'warn'](
            { err: (err as Error).message, code },
            'commit failed; reloading the actor from redis',
          );
          this.#dirty = true;
        },
      });
      this.#consumers.push(consumer);
      await consumer.start();
    }
  }

  /**
   * Sends an event that does not come from a stream (an operator command, a
   * clock tick) and commits the result: snapshot and outputs, atomically.
   * Resolves with the snapshot after the event.
   */
  async send(
    event: EventFromLogic<M>,
    meta: { correlationId?: string; causationId?: string } = {},
  ): Promise<ReturnType<Actor<M>['getSnapshot']>> {
    return this.#lock.run(async () => {
      if (this.#dirty) await this.#reload();
      const correlationId = meta.correlationId ?? uuidv7();
      this.#sendAll([event], correlationId, meta.causationId);
      try {
        await this.#commit(undefined);
      } catch (err) {
        this.#dirty = true;
        throw err;
      }
      return this.#live().getSnapshot();
    });
  }

  /**
   * Runs `fn` on the committed state: under the actor's lock, so never on a
   * batch that is handled but not yet committed, and after reloading from
   * Redis if a commit failed. Effects that must follow only durable decisions
   * (a venue call) read the actor through this.
   */
  async read<T>(fn: (snapshot: ReturnType<Actor<M>['getSnapshot']>) => T): Promise<T> {
    return this.#lock.run(async () => {
      if (this.#dirty) await this.#reload();
      return fn(this.#live().getSnapshot());
    });
  }

  /** Stops the consumers (the entry in hand finishes and is committed) and the actor. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.all(this.#consumers.map((c) => c.close()));
      this.#actor?.stop();
    })();
    return this.#closed;
  }

  #live(): Actor<M> {
    if (!this.#actor) throw new QtError('QT_ACTOR_NOT_STARTED', `actor ${this.spec.name} is not started`);
    return this.#actor;
  }

  /** Applies a consumed event; synchronous (no promise) unless the actor must be reloaded first. */
  #apply(event: Envelope): Promise<void> | undefined {
    if (this.#dirty) return this.#reload().then(() => this.#applyLoaded(event));
    this.#applyLoaded(event);
    return undefined;
  }

  #applyLoaded(event: Envelope): void {
    this.#sendAll(this.spec.toEvents(event, { receivedAt: this.#now() }), event.correlationId, event.id);
  }

  /** Sends machine events and collects outputs; on any error the actor is as before. */
  #sendAll(events: readonly EventFromLogic<M>[], correlationId: string, causationId: string | undefined): void {
    if (events.length === 0) return;
    const actor = this.#live();
    const before = actor.getSnapshot();
    try {
      for (const e of events) actor.send(e);
      const outputs = this.spec.takeOutputs(actor);
      for (const output of outputs) {
        const parsed = EVENT_CATALOG[output.type].safeParse(output.data);
        if (!parsed.success) {
          throw new QtError('QT_ENVELOPE_INVALID', `actor ${this.spec.name} produced an invalid ${output.type}`, {
            details: { issues: parsed.error.issues },
          });
        }
        this.#pending.push({ output: { type: output.type, data: parsed.data }, correlationId, causationId });
      }
    } catch (err) {
      this.#replaceActor(this.spec.machine.getPersistedSnapshot(before) as Snapshot<unknown>);
      throw err;
    }
  }

  /**
   * Commits what the actor did since the last commit: its outputs (one
   * batch per topic, in order), snapshot, projections and version, with the
   * acks of `consumed` (none for a command sent directly). Resolves with the
   * record script's gap list.
   */
  async #commit(consumed: CommitBatch | undefined): Promise<readonly unknown[]> {
    // Only duplicates or dead letters: the actor did nothing, so there is nothing to fence.
    if (consumed && consumed.handled.length === 0 && this.#pending.length === 0) return this.#ackOnly(consumed);
    const pending = this.#pending;
    this.#pending = [];
    const byTopic = new Map<string, PendingOutput[]>();
    for (const p of pending) {
      const topic = topicOf(p.output.type);
      const list = byTopic.get(topic) ?? [];
      list.push(p);
      byTopic.set(topic, list);
    }
    const time = new Date(this.#now()).toISOString();
    const outputs: AppendBatch[] = [];
    for (const [topic, list] of byTopic) {
      const firstSeq = this.#nextSeq.get(topic) ?? 1;
      this.#nextSeq.set(topic, firstSeq + list.length);
      outputs.push({
        topic,
        firstSeq,
        types: list.map((p) => p.output.type),
        payloads: list.map((p, i) => {
          const id = uuidv7();
          return JSON.stringify({
            seq: firstSeq + i,
            id,
            type: p.output.type,
            source: this.#source,
            producer: this.#outputProducer,
            time,
            correlationId: p.correlationId,
            ...(p.causationId ? { causationId: p.causationId } : {}),
            version: EVENT_SCHEMA_VERSION,
            data: p.output.data,
          });
        }),
      });
    }
    const committed = await commitActor(this.#redis, {
      actor: this.spec.name,
      versionKey: this.#keys.actorVersion(this.spec.name),
      snapshotKey: this.#keys.actorSnapshot(this.spec.name),
      expectedVersion: this.#version,
      snapshot: JSON.stringify(this.persistedSnapshot()),
      ...(consumed ? { consumed } : {}),
      appender: { keys: this.#keys, producer: this.#outputProducer, instance: this.#instance },
      outputs,
      projections: this.spec.project?.(this.#live().getSnapshot()) ?? [],
    });
    this.#version = committed.version;
    if (this.#registry)
      recordOutputs(
        this.#registry,
        this.#source,
        pending.map((p) => p.output),
      );
    return committed.gaps;
  }

  /** Loads the committed snapshot and the output seqs from Redis: the truth after a restart or a failed commit. */
  async #reload(): Promise<void> {
    const [raw, version] = await this.#redis.mget(
      this.#keys.actorSnapshot(this.spec.name),
      this.#keys.actorVersion(this.spec.name),
    );
    this.#replaceActor(raw === null || raw === undefined ? undefined : (JSON.parse(raw) as Snapshot<unknown>));
    this.#version = Number(version ?? 0);
    this.#pending = [];
    this.#nextSeq.clear();
    for (const topic of new Set(this.#outputTopics())) {
      const last = await this.#redis.hget(this.#keys.producerSeqs(topic), this.#outputProducer);
      this.#nextSeq.set(topic, (last === null ? 0 : Number(last)) + 1);
    }
    this.#dirty = false;
    this.#log.info(
      { restored: raw !== null, state: (this.#live().getSnapshot() as { value?: unknown }).value },
      'actor loaded',
    );
  }

  /** Topics the actor may publish to: any topic of the catalog. */
  #outputTopics(): string[] {
    return Object.keys(EVENT_CATALOG).map(topicOf);
  }

  #replaceActor(snapshot: Snapshot<unknown> | undefined): void {
    this.#actor?.stop();
    const create = createActor as (logic: AnyStateMachine, options?: { snapshot?: Snapshot<unknown> }) => Actor<M>;
    const actor = create(this.spec.machine, snapshot ? { snapshot } : {});
    actor.start();
    this.#actor = actor;
  }
}
