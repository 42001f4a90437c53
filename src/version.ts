/**
 * The runtime's version, as `GET /health` reports it: the `version` of the
 * project's package.json, read once when this module loads. The file is found
 * by walking up from this module's own directory, so the same code works from
 * `src/` under tsx and from the build output (`dist/`, or `dist/src/` if the
 * build's rootDir ever widens): package.json is the one source of the number.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QtError } from './errors.js';

/** The nearest `package.json` at or above the directory of the module at `moduleUrl`. */
export function packageJsonPath(moduleUrl: string): string {
  const start = dirname(fileURLToPath(moduleUrl));
  for (let dir = start; ; dir = dirname(dir)) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) {
      throw new QtError('QT_PACKAGE_UNREADABLE', `no package.json at or above ${start}`, { details: { start } });
    }
  }
}

/** The `version` of the nearest package.json above the module at `moduleUrl`; throws QT_PACKAGE_UNREADABLE. */
export function packageVersion(moduleUrl: string): string {
  const path = packageJsonPath(moduleUrl);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new QtError('QT_PACKAGE_UNREADABLE', `${path} is not readable JSON`, { cause: err, details: { path } });
  }
  // A plain shape check rather than zod: one string field, and the module stays free of dependencies.
  const version = typeof json === 'object' && json !== null ? (json as { version?: unknown }).version : undefined;
  if (typeof version !== 'string' || version.trim() === '') {
    throw new QtError('QT_PACKAGE_UNREADABLE', `${path} has no version`, { details: { path } });
  }
  return version;
}

/** The runtime's version: package.json's `version`. */
export const VERSION: string = packageVersion(import.meta.url);
