/**
 * `npm run gateway:render`: writes infra/nginx/nginx.conf from
 * infra/nginx/gateway.json and the service table. With `--check` it writes
 * nothing and exits 1 when the checked-in file differs from the render.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { isQtError } from '../../src/errors.js';
import { renderNginxConf } from './render.js';
import { loadGatewaySettings, SHIPPED_NGINX_CONF } from './settings.js';

function main(): number {
  let rendered: string;
  try {
    rendered = renderNginxConf(loadGatewaySettings());
  } catch (err) {
    if (!isQtError(err)) throw err;
    process.stderr.write(`gateway:render: ${err.message}\n`);
    return 2;
  }
  if (!process.argv.includes('--check')) {
    writeFileSync(SHIPPED_NGINX_CONF, rendered);
    process.stdout.write(`wrote ${SHIPPED_NGINX_CONF}\n`);
    return 0;
  }
  const shipped = readFileSync(SHIPPED_NGINX_CONF, 'utf8');
  if (shipped === rendered) return 0;
  process.stderr.write(`${SHIPPED_NGINX_CONF} differs from its render: run npm run gateway:render\n`);
  return 1;
}

process.exitCode = main();
