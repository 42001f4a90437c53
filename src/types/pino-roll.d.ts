/**
 * Types of pino-roll (which ships none), as far as src/log.ts uses it: an
 * async builder that opens a sonic-boom stream on `file.N.ext`, rolled to
 * the next number at `size` and pruned to `limit.count` files.
 */
declare module 'pino-roll' {
  import type { EventEmitter } from 'node:events';

  /** The sonic-boom stream pino-roll returns (the part of it the logger uses). */
  export interface RollStream extends EventEmitter {
    /** The file being written now. */
    readonly file: string;
    write(data: string): boolean;
    flushSync(): void;
    end(): void;
  }

  export interface PinoRollOptions {
    file: string;
    /** `Nb`, `Nk`, `Nm`, `Ng`; a bare number means megabytes. */
    size?: string | number;
    frequency?: 'daily' | 'hourly' | number;
    extension?: string;
    limit?: { count: number; removeOtherLogFiles?: boolean };
    mkdir?: boolean;
    /** sonic-boom: write each line with a synchronous write(2). */
    sync?: boolean;
  }

  export default function build(options: PinoRollOptions): Promise<RollStream>;
}
