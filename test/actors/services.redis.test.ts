/**
 * The service table against the actors the runtime really hosts: each
 * service's `consumes` is exactly the union of its hosted actors' topics, and
 * every topic is one the event catalog knows. The risk-safety actors are built
 * by their services, which need a Redis client, hence the real server.
 */
import test from 'ava';
import { createAiSpec } from '../../src/actors/ai-engine/ai-machine.js';
import { createExecutionSpec } from '../../src/actors/execution/execution-machine.js';
import type { ActorSpec } from '../../src/actors/host.js';
import { MONITORING_GROUP, MonitoringService } from '../../src/actors/monitoring/monitoring-service.js';
import { createPortfolioSpec, portfolioSpec } from '../../src/actors/portfolio/portfolio-machine.js';
import { EssService } from '../../src/actors/risk-safety/ess-service.js';
import { PretradeService } from '../../src/actors/risk-safety/pretrade-service.js';
import { createRlSpec, rlTrainingSpec } from '../../src/actors/rl-training/rl-machine.js';
import { IMPLEMENTED_SERVICES } from '../../src/actors/runtime.js';
import {
  ACTOR_TOPICS,
  parseActors,
  SERVICE_NAMES,
  SERVICES,
  type ServiceName,
  topicsOf,
} from '../../src/actors/services.js';
import { loadConfig } from '../../src/config/load.js';
import { TOPICS } from '../../src/events/catalog.js';
import { RedisPublisher } from '../../src/streams/publisher.js';
import { testKeys } from '../support/bus.js';
import { startRedis } from '../support/redis-fixture.js';

// biome-ignore lint/suspicious/noExplicitAny: specs of different machines side by side; only name and topics are read
type AnySpec = ActorSpec<any>;

test('each service consumes exactly the union of its hosted actors’ topics', async (t) => {
  const server = await startRedis({ name: 'services' });
  t.teardown(() => server.stop());
  const redis = server.client();
  const keys = testKeys('services');
  const config = loadConfig({ QT_KEY_PREFIX: keys.prefix });
  const publisher = new RedisPublisher({ redis, keys, producer: 'svc', source: 'risk-safety' });
  const ess = new EssService({ redis, keys, publisher, config, producer: 'svc', consumer: 'svc-1' });
  const pretrade = new PretradeService({
    redis,
    keys,
    producer: 'svc',
    consumer: 'svc-1',
  });
  // What runtime.ts hosts per implemented service (marketdata's feed is not an actor).
  const hosted: Partial<Record<ServiceName, readonly AnySpec[]>> = {
    marketdata: [],
    'ai-engine': [createAiSpec()],
    'risk-safety': [ess.host.spec, pretrade.host.spec],
    execution: [createExecutionSpec()],
    'portfolio-intelligence': [portfolioSpec, createPortfolioSpec()],
    'rl-training': [rlTrainingSpec, createRlSpec({ windowSize: 10 })],
    // Not an actor host: one consumer group of its own beside the collection loop.
    'monitoring-health': [{ name: MONITORING_GROUP, topics: MonitoringService.topics } as unknown as AnySpec],
  };
  t.deepEqual(Object.keys(hosted).sort(), [...IMPLEMENTED_SERVICES].sort(), 'every implemented service is checked');
  for (const name of IMPLEMENTED_SERVICES) {
    const service = SERVICES[name];
    const specs = hosted[name] ?? [];
    t.deepEqual([...new Set(specs.map((s) => s.name))].sort(), [...service.actors].sort(), `${name}: hosted actors`);
    for (const spec of specs) {
      const outside = spec.topics.filter((topic) => !service.consumes.includes(topic));
      t.deepEqual(outside, [], `${name}: actor ${spec.name} consumes topics its service does not declare`);
    }
    const union = new Set(specs.flatMap((s) => s.topics));
    t.deepEqual(
      [...union].sort(),
      [...service.consumes].sort(),
      `${name}: consumes is the union of its actors' topics`,
    );
  }
});

test('every consumed and produced topic is a catalog topic; no actor is listed by two services', (t) => {
  for (const [actor, topics] of Object.entries(ACTOR_TOPICS)) {
    for (const topic of topics) t.true(TOPICS.includes(topic), `${actor} consumes ${topic}`);
  }
  for (const name of SERVICE_NAMES) {
    for (const topic of SERVICES[name].produces) t.true(TOPICS.includes(topic), `${name} produces ${topic}`);
  }
  const listed = SERVICE_NAMES.flatMap((name) => SERVICES[name].actors);
  t.deepEqual([...listed].sort(), Object.keys(ACTOR_TOPICS).sort(), 'each actor belongs to exactly one service');
});

test('topicsOf is the union in first-seen order; risk-safety consumes what its ESS and pre-trade actors do', (t) => {
  t.deepEqual(topicsOf([]), []);
  t.deepEqual(topicsOf(['execution', 'portfolio']), ['order', 'ess', 'market']);
  t.deepEqual(SERVICES['risk-safety'].consumes, topicsOf(['ess', 'pretrade']));
  t.deepEqual(SERVICES.marketdata.consumes, []);
});

test('parseActors keeps start-up order and names unknown services', (t) => {
  t.deepEqual(parseActors('all'), { ok: true, services: [...SERVICE_NAMES] });
  t.deepEqual(parseActors('execution, marketdata'), { ok: true, services: ['marketdata', 'execution'] });
  t.deepEqual(parseActors('execution,nope'), { ok: false, unknown: ['nope'] });
  t.deepEqual(parseActors(' , '), { ok: false, unknown: [' , '] });
});
