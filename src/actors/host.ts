import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import { type Actor, type AnyStateMachine, createActor, type EventFromLogic, type Snapshot } from 'xstate';
import { QtError } from '../errors.js';
import { EVENT_CATALOG, EVENT_SCHEMA_VERSION, type EventType, topicOf } from '../events/catalog.js';
import type { Envelope } from '../events/envelope.js';
import { type Logger, silentLogger } from '../log.js';
import { type CommitCommand, StreamConsumer, type StreamConsumerOptions } from '../streams/consumer.js';
import { assertKeyPart, type Keys } from '../streams/keys.js';
import { Mutex } from '../streams/mutex.js';
import { APPEND_LUA } from '../streams/scripts.js';

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
  project?(snapshot: ReturnType<Actor<M>['getSnapshot']>): readonly CommitCommand[];
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
  readonly registry?: Registry;
  readonly now?: () => number;
}

interface PendingOutput {
  readonly output: ActorOutput;
  readonly correlationId: string;
  readonly causationId: string | undefined;
}

/**
 * Runs one actor on its consumer groups, event-sourced (DESIGN §6).
 *
 * For every consumed event: decode → `send` to the actor → collect what it
 * asks to publish. Then, per batch, ONE Redis transaction (MULTI/EXEC) holds
 * the XACK with the group's processed-record, the actor's persisted snapshot,
 * and the actor's output events, appended through the idempotent append
 * script under the actor's own producer id. A crash before EXEC leaves
 * nothing done: the events are redelivered to the snapshot that did not
 * include them. A retried EXEC is harmless: XACK and SET repeat, and the
 * append script skips seqs it already has. Restarting therefore never loses
 * or re-applies an event, and never publishes an output twice.
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
  #pending: PendingOutput[] = [];
  #actor: Actor<M> | undefined;
  #dirty = false;
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
    this.#now = options.now ?? Date.now;
  }

  /** The actor's current snapshot (for HTTP reads and tests). */
  get snapshot(): ReturnType<Actor<M>['getSnapshot']> {
    return this.#live().getSnapshot();
  }

  /** The snapshot as persisted (what a restart restores). */
  persistedSnapshot(): Snapshot<unknown> {
    return this.spec.machine.getPersistedSnapshot(this.#live().getSnapshot()) as Snapshot<unknown>;
  }

  /** Restores the actor from Redis, then starts one consumer per topic (own pending entries first). */
  async start(): Promise<void> {
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
        commitWith: () => this.#commitCommands(),
        onCommitError: (err) => {
          this.#log.warn({ err: (err as Error).message }, 'commit failed; reloading the actor from redis');
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
      const commands = this.#commitCommands();
      try {
        const results = await this.#multi(commands).exec();
        const failed = results?.find(([err]) => err);
        if (!results || failed) throw failed?.[0] ?? new Error('transaction discarded');
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

  async #apply(event: Envelope): Promise<void> {
    if (this.#dirty) await this.#reload();
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

  /** The writes that go with an ack: the actor's outputs (appended in order per topic) and its snapshot. */
  #commitCommands(): CommitCommand[] {
    const pending = this.#pending;
    this.#pending = [];
    const byTopic = new Map<string, PendingOutput[]>();
    for (const p of pending) {
      const topic = topicOf(p.output.type);
      const list = byTopic.get(topic) ?? [];
      list.push(p);
      byTopic.set(topic, list);
    }
    const commands: CommitCommand[] = [];
    const time = new Date(this.#now()).toISOString();
    for (const [topic, outputs] of byTopic) {
      const first = this.#nextSeq.get(topic) ?? 1;
      this.#nextSeq.set(topic, first + outputs.length);
      const args: (string | number)[] = [this.#outputProducer, this.#instance, first, outputs.length];
      outputs.forEach((p, i) => {
        const id = uuidv7();
        const envelope = {
          seq: first + i,
          id,
          type: p.output.type,
          source: this.#source,
          producer: this.#outputProducer,
          time,
          correlationId: p.correlationId,
          ...(p.causationId ? { causationId: p.causationId } : {}),
          version: EVENT_SCHEMA_VERSION,
          data: p.output.data,
        };
        args.push(p.output.type, JSON.stringify(envelope));
      });
      commands.push([
        'EVAL',
        APPEND_LUA,
        3,
        this.#keys.stream(topic),
        this.#keys.producerSeqs(topic),
        this.#keys.gaps(topic),
        ...args,
      ]);
    }
    commands.push(['SET', this.#keys.actorSnapshot(this.spec.name), JSON.stringify(this.persistedSnapshot())]);
    if (this.spec.project) commands.push(...this.spec.project(this.#live().getSnapshot()));
    return commands;
  }

  #multi(commands: readonly CommitCommand[]) {
    const tx = this.#redis.multi();
    for (const [name, ...args] of commands) tx.call(name, ...args);
    return tx;
  }

  /** Loads the committed snapshot and the output seqs from Redis: the truth after a restart or a failed commit. */
  async #reload(): Promise<void> {
    const raw = await this.#redis.get(this.#keys.actorSnapshot(this.spec.name));
    this.#replaceActor(raw === null ? undefined : (JSON.parse(raw) as Snapshot<unknown>));
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
