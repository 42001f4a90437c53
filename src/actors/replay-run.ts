/**
 * A replay at `max` speed in this process (docs/market-data.md, "Replay at
 * max speed"): the event clock every service of the process reads instead
 * of the host clock, the consumer groups the replay waits for, the probes of
 * work an actor holds outside its streams (execution's orders not yet sent),
 * and the moment the replay is done and the pipeline has drained.
 *
 * The clock is the time of the instant the feed last published: the
 * marketdata service moves it forward, then publishes that instant's ticks
 * and candles, and publishes the next only once the pipeline has finished
 * with these. So every decision an instant causes (a signal, an approval, a
 * fill, a portfolio update, an ESS trip) reads that instant's time, and two
 * replays of one file take the same decisions at the same times.
 */
import { ACTOR_TOPICS, type ActorName, SERVICES, type ServiceName } from './services.js';

/** A consumer group the replay waits for: it must exist and have nothing undelivered or pending. */
export interface PipelineGroup {
  readonly topic: string;
  readonly group: string;
}

/** What the replay hands over when it is done and the pipeline has drained. */
export interface ReplayFinished {
  /** Per pipeline topic, the stream's last entry id before the replay published anything (`0-0`: empty). */
  readonly startIds: Readonly<Record<string, string>>;
  /** Ticks and candles the replay published. */
  readonly ticks: number;
  readonly candles: number;
  /** The file times of the first and last instant replayed (epoch ms). */
  readonly firstAt: number;
  readonly lastAt: number;
  /** Wall clock (epoch ms) when the first instant went out and when the pipeline drained after the last. */
  readonly wallStartedAt: number;
  readonly wallFinishedAt: number;
}

/** What a service says of the work it holds outside its streams. */
export interface WorkState {
  /** It has work due now. */
  readonly held: boolean;
  /** Steps of such work done so far (a counter that only grows). */
  readonly done: number;
}

/** A named check of work a service holds outside its streams. */
export type WorkProbe = () => Promise<WorkState>;

/** The replay of this process; see the file comment. */
export class ReplayRun {
  /** The groups of the actors this process hosts, on the topics they consume. */
  readonly groups: readonly PipelineGroup[];
  #at = 0;
  readonly #probes = new Map<string, WorkProbe>();
  #resolveFinished: (f: ReplayFinished) => void = () => {};
  /** Resolves once the replay is done and the pipeline has drained; never, if the process stops first. */
  readonly finished: Promise<ReplayFinished> = new Promise((resolve) => {
    this.#resolveFinished = resolve;
  });

  constructor(services: readonly ServiceName[]) {
    const actors: readonly ActorName[] = services.flatMap((s) => SERVICES[s].actors);
    this.groups = actors.flatMap((group) => ACTOR_TOPICS[group].map((topic) => ({ topic, group })));
  }

  /** The event clock (epoch ms): the time of the instant being replayed. */
  readonly now = (): number => this.#at;

  /** The event clock as a Date, for a publisher's envelope `time`. */
  readonly nowDate = (): Date => new Date(this.#at);

  /** Moves the clock to `at`; it never goes back. */
  advanceTo(at: number): void {
    if (at > this.#at) this.#at = at;
  }

  /** Registers what a service must report before the next instant may go out. */
  addWorkProbe(name: string, probe: WorkProbe): void {
    this.#probes.set(name, probe);
  }

  /** The services that hold work due now, and the steps of such work all have done. */
  async work(): Promise<{ held: string[]; done: number }> {
    const entries = [...this.#probes];
    const states = await Promise.all(entries.map(([, probe]) => probe()));
    return {
      held: entries.filter((_, i) => states[i]?.held).map(([name]) => name),
      done: states.reduce((n, s) => n + s.done, 0),
    };
  }

  /** Called once by the marketdata service: the replay is done and the pipeline drained. */
  finish(finished: ReplayFinished): void {
    this.#resolveFinished(finished);
  }
}

/**
 * The replay run of a process, when it has one: the feed is a CSV replay
 * at `max` speed and this process hosts marketdata. Otherwise every service
 * keeps the host clock.
 */
export function replayRunFor(
  feed: { readonly csvPath: string | undefined; readonly csvSpeed: number | 'max'; readonly source: string },
  services: readonly ServiceName[],
): ReplayRun | undefined {
  if (feed.source !== 'csv' || feed.csvPath === undefined || feed.csvSpeed !== 'max') return undefined;
  if (!services.includes('marketdata')) return undefined;
  return new ReplayRun(services);
}
