import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { type Config, loadConfig } from '../config/load.js';
import { type PostgresStoreConfig, postgresSettingsFromEnv } from '../config/trade-store.js';
import { isQtError } from '../errors.js';
import { redactUrl } from '../log.js';
import { createRedis } from '../streams/connection.js';
import { createKeys, type Keys } from '../streams/keys.js';
import { CliError, EXIT } from './exit-codes.js';
import { type Output, processOutput } from './output.js';

/** The options every command takes (see `qt --help`). */
export interface GlobalOptions {
  readonly redis?: string;
  readonly prefix?: string;
  readonly json?: boolean;
  readonly tokenFile?: string;
}

/** How long `qt` waits for Redis before it gives up with exit 3. */
export const CLI_REDIS_TIMEOUT_MS = 3_000;

/**
 * What a command works with: the settings (the same environment and
 * defaults as `main`, with `--redis` / `--prefix` on top), the one key
 * builder, a Redis connection made on first use, and the output.
 */
export class CliContext {
  readonly config: Config;
  readonly keys: Keys;
  readonly output: Output;
  readonly #options: GlobalOptions;
  readonly #env: NodeJS.ProcessEnv;
  #redis: Promise<Redis> | undefined;
  #client: Redis | undefined;

  constructor(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env, output?: Output) {
    this.#options = options;
    const overrides: NodeJS.ProcessEnv = { ...env };
    if (options.redis !== undefined) overrides.REDIS_URL = options.redis;
    if (options.prefix !== undefined) overrides.QT_KEY_PREFIX = options.prefix;
    this.#env = overrides;
    try {
      this.config = loadConfig(overrides);
    } catch (err) {
      if (isQtError(err, 'QT_CONFIG_INVALID')) throw new CliError(EXIT.USAGE, err.message);
      throw err;
    }
    this.keys = createKeys(this.config.keyPrefix);
    this.output = output ?? processOutput(options.json === true);
  }

  /** Where Redis is, for messages (password redacted). */
  get redisLabel(): string {
    const r = this.config.redis;
    return r.mode === 'sentinel' ? `sentinel master "${r.masterName}"` : redactUrl(r.url);
  }

  /** The connected Redis; exit 3 with one line when it does not answer. */
  redis(): Promise<Redis> {
    this.#redis ??= (async () => {
      const client = createRedis(this.config, {
        retryStrategy: () => null,
        connectTimeout: CLI_REDIS_TIMEOUT_MS,
        connectionName: 'qt:cli',
      });
      client.on('error', () => undefined);
      this.#client = client;
      try {
        await client.connect();
        await client.ping();
      } catch (err) {
        throw new CliError(
          EXIT.REDIS_UNREACHABLE,
          `cannot reach Redis at ${this.redisLabel}: ${(err as Error).message}`,
          { cause: err },
        );
      }
      return client;
    })();
    return this.#redis;
  }

  /**
   * The PostgreSQL trade store's settings (DATABASE_URL and QT_PG_*) whatever
   * QT_TRADE_STORE says; exit 2 when DATABASE_URL is not set.
   */
  postgresSettings(): PostgresStoreConfig {
    const settings = postgresSettingsFromEnv(this.#env);
    if (!settings.ok) throw new CliError(EXIT.USAGE, `invalid settings: ${settings.issues.join('; ')}`);
    if (!settings.config) {
      throw new CliError(EXIT.USAGE, 'this command needs DATABASE_URL: the PostgreSQL trade store (postgres://…)');
    }
    return settings.config;
  }

  /** The admin token: `--token-file`, else QT_ADMIN_TOKEN; exit 2 when a command needs one and none is set. */
  adminToken(): string {
    if (this.#options.tokenFile !== undefined) {
      try {
        const token = readFileSync(this.#options.tokenFile, 'utf8').trim();
        if (token.length > 0) return token;
      } catch (err) {
        throw new CliError(
          EXIT.USAGE,
          `cannot read --token-file ${this.#options.tokenFile}: ${(err as Error).message}`,
        );
      }
      throw new CliError(EXIT.USAGE, `--token-file ${this.#options.tokenFile} is empty`);
    }
    if (this.config.adminToken) return this.config.adminToken;
    throw new CliError(EXIT.USAGE, 'this command needs the admin token: set QT_ADMIN_TOKEN or pass --token-file FILE');
  }

  /** The base URL of a service's HTTP API (QT_HTTP_HOST, base port + QT_HTTP_PORT_OFFSET, as `main` listens). */
  serviceUrl(port: number): string {
    return `http://${this.config.http.host}:${port + this.config.http.portOffset}`;
  }

  /** Closes the connection, if one was made. */
  async close(): Promise<void> {
    const client = this.#client;
    if (client) await client.quit().catch(() => client.disconnect());
  }
}
