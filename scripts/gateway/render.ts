/**
 * Renders the gateway's nginx.conf from the service table
 * (src/actors/services.ts: each service's port) and the settings file
 * (infra/nginx/gateway.json: listen address, upstream host, limits,
 * timeouts, CORS). The shipped infra/nginx/nginx.conf is this function's
 * output with no overrides; `npm run gateway` and the tests render through
 * it too, changing only the listen address, the upstream host and the port
 * offset, so what they run is what ships. Every path in the output is
 * relative to nginx's prefix (`nginx -p DIR`), see docs/operations.md.
 */
import { SERVICES, type ServiceName } from '../../src/actors/services.js';
import type { GatewayRoute, GatewaySettings } from './settings.js';

/** What a run may change from the shipped settings; nothing else differs from the shipped file. */
export interface RenderOverrides {
  readonly listenHost?: string;
  readonly listenPort?: number;
  readonly upstreamHost?: string;
  /** Added to every service port, as QT_HTTP_PORT_OFFSET does for `main`. */
  readonly portOffset?: number;
}

/** The headers a browser may send cross-origin. */
const CORS_ALLOWED_HEADERS = 'Authorization, Content-Type, X-Correlation-ID';
const CORS_ALLOWED_METHODS = 'GET, POST, PUT, DELETE, OPTIONS';

/** The JSON error bodies nginx itself answers with, by status (a service's own errors pass through untouched). */
const ERROR_PAGES = {
  404: { location: 'not_found', error: 'not_found', message: 'no such route at the gateway' },
  429: { location: 'rate_limited', error: 'rate_limited', message: 'too many requests; retry after Retry-After' },
  502: { location: 'bad_gateway', error: 'bad_gateway', message: 'the service did not answer (not running?)' },
  503: { location: 'unavailable', error: 'service_unavailable', message: 'the gateway cannot serve this now' },
  504: { location: 'gateway_timeout', error: 'gateway_timeout', message: 'the service did not answer in time' },
} as const;

/** The upstream block name of a service. */
function upstreamName(service: ServiceName): string {
  return `qt_${service.replace(/-/g, '_')}`;
}

/** nginx.conf for `settings`, with `overrides` applied. */
export function renderNginxConf(settings: GatewaySettings, overrides: RenderOverrides = {}): string {
  const routes = Object.entries(settings.routes) as [ServiceName, GatewayRoute][];
  const out = new Writer();
  header(out);
  out.line(`worker_processes ${settings.workerProcesses};`);
  out.line('pid nginx.pid;');
  out.line('error_log logs/error.log warn;');
  out.line('error_log stderr warn;');
  out.blank();
  out.block('events', () => out.line(`worker_connections ${settings.workerConnections};`));
  out.blank();
  out.block('http', () => {
    basics(out, settings);
    variables(out, settings, routes);
    accessLog(out);
    limitZones(out, settings);
    out.comment("Idle upstream connections are kept open; nginx closes them after 60 s, before Fastify's 72 s.");
    for (const [service] of routes) upstream(out, settings, service, overrides);
    proxyDefaults(out);
    server(out, settings, routes, overrides);
  });
  return out.text();
}

function header(out: Writer): void {
  out.comment(
    'The Quantum Trader API gateway (docs/operations.md, "The gateway").',
    'Rendered by scripts/gateway/render.ts from infra/nginx/gateway.json and the',
    'service table in src/actors/services.ts: edit those, then run',
    '`npm run gateway:render`. Never edit this file by hand: a test fails when it',
    'differs from the render. Run it as `nginx -p PREFIX -c nginx.conf -e stderr`',
    '(PREFIX holding logs/ and temp/); `npm run gateway` does, under var/gateway/.',
  );
  out.blank();
  out.comment('In the foreground: npm run gateway, systemd (Type=simple) and containers supervise it.');
  out.line('daemon off;');
}

function basics(out: Writer, settings: GatewaySettings): void {
  out.line('server_tokens off;');
  out.line('default_type application/json;');
  out.line('keepalive_timeout 65s;');
  out.line(`client_max_body_size ${settings.clientMaxBodySize};`);
  for (const temp of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
    out.line(`${temp}_temp_path temp/${temp};`);
  }
  out.blank();
}

function variables(out: Writer, settings: GatewaySettings, routes: [ServiceName, GatewayRoute][]): void {
  out.comment(
    "The correlation id sent to the service and returned: the client's X-Correlation-ID when it",
    "is one the services accept (src/http/service-server.ts), else nginx's request id.",
  );
  out.block('map $http_x_correlation_id $correlation_id', () => {
    out.line('"~^[A-Za-z0-9_.:-]{1,128}$" $http_x_correlation_id;');
    out.line('default $request_id;');
  });
  out.comment(
    'Trading operations are the requests that change state (every method but GET, HEAD and',
    'OPTIONS) on the routes under the trading zone; an empty key is not counted by limit_req.',
  );
  out.block('map $request_method $trading_key', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS']) out.line(`${method} "";`);
    out.line('default $binary_remote_addr;');
  });
  out.comment('The service a request is for, for the access log and the error bodies.');
  out.block('map $uri $service', () => {
    for (const [service, route] of routes) out.line(`"~^${route.prefix}" ${service};`);
    out.line('default "";');
  });
  out.comment('CORS: the Origin is echoed only when it is one of gateway.json cors.origins.');
  out.block('map $http_origin $cors_origin', () => {
    out.line('default "";');
    for (const origin of settings.cors.origins) out.line(`"${origin}" $http_origin;`);
  });
  out.comment('Headers of a preflight (OPTIONS) answer only; an empty value sends no header.');
  const preflight: [string, string][] = [
    ['cors_allow_methods', CORS_ALLOWED_METHODS],
    ['cors_allow_headers', CORS_ALLOWED_HEADERS],
    ['cors_max_age', String(settings.cors.maxAgeSeconds)],
  ];
  for (const [name, value] of preflight) {
    out.block(`map $request_method $${name}`, () => {
      out.line(`OPTIONS "${value}";`);
      out.line('default "";');
    });
  }
  out.block('map $status $retry_after', () => {
    out.line(`429 ${settings.retryAfterSeconds};`);
    out.line('default "";');
  });
  out.blank();
}

function accessLog(out: Writer): void {
  const fields: [string, string][] = [
    ['time', '"$time_iso8601"'],
    ['service', '"$service"'],
    ['method', '"$request_method"'],
    ['uri', '"$request_uri"'],
    ['status', '$status'],
    ['bytes', '$body_bytes_sent'],
    ['requestTime', '$request_time'],
    ['upstream', '"$upstream_addr"'],
    ['upstreamStatus', '"$upstream_status"'],
    ['upstreamConnectTime', '"$upstream_connect_time"'],
    ['upstreamHeaderTime', '"$upstream_header_time"'],
    ['upstreamResponseTime', '"$upstream_response_time"'],
    ['correlationId', '"$correlation_id"'],
    ['remoteAddr', '"$remote_addr"'],
    ['userAgent', '"$http_user_agent"'],
  ];
  out.comment('One JSON object a line; no header values but the user agent (never Authorization).');
  out.line(`log_format qt_json escape=json '{${fields.map(([k, v]) => `"${k}":${v}`).join(',')}}';`);
  out.line('access_log logs/access.log qt_json;');
  out.blank();
}

function limitZones(out: Writer, settings: GatewaySettings): void {
  const { general, execution, trading, killSwitch } = settings.limits;
  out.comment('Per client address; trading counts only state-changing requests ($trading_key).');
  out.line(`limit_req_zone $binary_remote_addr zone=general:10m rate=${general.rate}r/s;`);
  out.line(`limit_req_zone $binary_remote_addr zone=execution:10m rate=${execution.rate}r/s;`);
  out.line(`limit_req_zone $trading_key zone=trading:10m rate=${trading.rate}r/s;`);
  out.comment(
    "The kill switch's own zone, per Authorization value: no flood of other requests, and no",
    "client without the operator's token, can use up the operator's allowance.",
  );
  out.line(`limit_req_zone $http_authorization zone=kill_switch:1m rate=${killSwitch.rate}r/s;`);
  out.line('limit_req_status 429;');
  out.line('limit_req_log_level warn;');
  out.blank();
}

function upstream(out: Writer, settings: GatewaySettings, service: ServiceName, overrides: RenderOverrides): void {
  const host = overrides.upstreamHost ?? settings.upstreamHost;
  const port = SERVICES[service].port + (overrides.portOffset ?? 0);
  out.block(`upstream ${upstreamName(service)}`, () => {
    out.line('least_conn;');
    out.line(`server ${host}:${port} max_fails=3 fail_timeout=30s;`);
    out.line(`keepalive ${settings.upstreamKeepalive};`);
  });
}

function proxyDefaults(out: Writer): void {
  out.blank();
  out.comment('HTTP/1.1 with no Connection header, so upstream connections are kept alive.');
  out.line('proxy_http_version 1.1;');
  out.line('proxy_set_header Connection "";');
  out.line('proxy_set_header Host $host;');
  out.line('proxy_set_header X-Correlation-ID $correlation_id;');
  out.line('proxy_set_header X-Real-IP $remote_addr;');
  out.line('proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;');
  out.line('proxy_set_header X-Forwarded-Proto $scheme;');
  out.comment('The gateway adds X-Correlation-ID itself (the same id the service echoes), on its own answers too.');
  out.line('proxy_hide_header X-Correlation-ID;');
  out.blank();
}

function server(
  out: Writer,
  settings: GatewaySettings,
  routes: [ServiceName, GatewayRoute][],
  overrides: RenderOverrides,
): void {
  const host = overrides.listenHost ?? settings.listen.host;
  const port = overrides.listenPort ?? settings.listen.port;
  out.block('server', () => {
    out.line(`listen ${host.includes(':') ? `[${host}]` : host}:${port};`);
    out.line('server_name _;');
    out.blank();
    out.comment(
      'Set here only: an add_header in a location would drop all of these there.',
      'Strict-Transport-Security takes effect where TLS terminates in front of the gateway;',
      'browsers ignore it on plain HTTP.',
    );
    out.line('add_header X-Content-Type-Options "nosniff" always;');
    out.line('add_header X-Frame-Options "DENY" always;');
    out.line('add_header Referrer-Policy "no-referrer" always;');
    out.line(`add_header Content-Security-Policy "default-src 'none'; frame-ancestors 'none'" always;`);
    out.line(`add_header Strict-Transport-Security "max-age=${settings.hstsMaxAgeSeconds}" always;`);
    out.line('add_header X-Correlation-ID $correlation_id always;');
    out.line('add_header Access-Control-Allow-Origin $cors_origin always;');
    out.line('add_header Access-Control-Allow-Methods $cors_allow_methods always;');
    out.line('add_header Access-Control-Allow-Headers $cors_allow_headers always;');
    out.line('add_header Access-Control-Max-Age $cors_max_age always;');
    out.line('add_header Access-Control-Expose-Headers "X-Correlation-ID, Retry-After" always;');
    out.line('add_header Vary "Origin" always;');
    out.line('add_header Retry-After $retry_after always;');
    out.blank();
    for (const [status, page] of Object.entries(ERROR_PAGES)) out.line(`error_page ${status} @${page.location};`);
    out.blank();
    out.comment('No admin route of any service is reachable through the gateway.');
    out.block('location ~* /admin(/|$)', () => out.line('return 404;'));
    killSwitch(out, settings);
    out.comment(
      'Each service: PREFIXx is /x on the service; a CORS preflight is answered here, not by the',
      'service; a request under the trading zone counts there only when it changes state.',
    );
    for (const [service, route] of routes) serviceLocation(out, settings, service, route);
    out.block('location /', () => out.line('return 404;'));
    for (const [status, page] of Object.entries(ERROR_PAGES)) {
      const body = `{"error":"${page.error}","message":"${page.message}","service":"$service","correlationId":"$correlation_id"}`;
      out.block(`location @${page.location}`, () => out.line(`return ${status} '${body}';`));
    }
  });
}

function killSwitch(out: Writer, settings: GatewaySettings): void {
  const { service, paths } = settings.killSwitch;
  const route = settings.routes[service];
  const prefix = route.prefix.slice(0, -1);
  const { rate, burst } = settings.limits.killSwitch;
  out.comment(
    `The kill switch (${paths.join(', ')} on ${service}): its own zone (${rate} r/s, burst ${burst},`,
    'per token), none of the others, so a flood of trading requests cannot starve it. The',
    'Authorization header must be present; the service checks the token.',
  );
  out.block(`location ~ ^${prefix}(${paths.join('|')})$`, () => {
    out.line(`limit_req zone=kill_switch burst=${burst} nodelay;`);
    out.block('if ($request_method = OPTIONS)', () => out.line('return 204;'));
    out.block('if ($http_authorization = "")', () => {
      out.line(`return 401 '{"error":"unauthorized","message":"the kill switch needs an Authorization header"}';`);
    });
    timeouts(out, route);
    out.comment('$1 is the path on the service; $uri stays as asked, for $service in the log.');
    out.line(`proxy_pass http://${upstreamName(service)}$1$is_args$args;`);
  });
}

function serviceLocation(out: Writer, settings: GatewaySettings, service: ServiceName, route: GatewayRoute): void {
  out.block(`location ${route.prefix}`, () => {
    for (const zone of route.limits) out.line(`limit_req zone=${zone} burst=${settings.limits[zone].burst} nodelay;`);
    out.block('if ($request_method = OPTIONS)', () => out.line('return 204;'));
    timeouts(out, route);
    out.line(`proxy_pass http://${upstreamName(service)}/;`);
  });
}

function timeouts(out: Writer, route: GatewayRoute): void {
  out.line(`proxy_connect_timeout ${route.timeouts.connect}s;`);
  out.line(`proxy_send_timeout ${route.timeouts.send}s;`);
  out.line(`proxy_read_timeout ${route.timeouts.read}s;`);
}

/** Lines of an nginx config with block indentation. */
class Writer {
  readonly #lines: string[] = [];
  #depth = 0;

  line(text: string): void {
    this.#lines.push(`${'  '.repeat(this.#depth)}${text}`);
  }

  blank(): void {
    if (this.#lines.at(-1) !== '') this.#lines.push('');
  }

  comment(...lines: string[]): void {
    for (const text of lines) this.line(`# ${text}`);
  }

  block(head: string, body: () => void): void {
    this.line(`${head} {`);
    this.#depth++;
    body();
    this.#depth--;
    this.line('}');
  }

  text(): string {
    return `${this.#lines.join('\n')}\n`;
  }
}
