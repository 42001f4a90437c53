/**
 * Named defaults of settings whose owners sit above the config layer (the
 * ESS, rl-training, the disk buffer). They live here so the config schema
 * can state every default without importing the modules that use them;
 * those modules import them from here.
 */

// Emergency Stop System (docs/actors.md, "ESS").

/** Drawdown from peak equity (unrealized PnL included) that puts the ESS in `reducing`. */
export const DEFAULT_SOFT_DRAWDOWN = 0.05;
/** Drawdown from peak equity (unrealized PnL included) that trips the ESS. */
export const DEFAULT_HARD_DRAWDOWN = 0.1;
/** Fall of one symbol's price, from its high within the window, that trips the ESS. */
export const DEFAULT_FLASH_CRASH_DROP = 0.15;
/** Window of the flash-crash check. */
export const DEFAULT_FLASH_CRASH_WINDOW_MS = 60_000;
/** Realized loss of the day (quote currency, a positive amount) that trips the ESS. */
export const DEFAULT_DAILY_LOSS_LIMIT = 1_000;
/** How long system health may stay CRITICAL before the ESS trips. */
export const DEFAULT_HEALTH_CRITICAL_MS = 30_000;
/** Time after the last trip before a RESET is accepted. */
export const DEFAULT_COOLDOWN_MS = 15 * 60_000;

// rl-training (docs/rl-training.md).

/** Outcomes both policies are scored on; promotion needs this many. */
export const DEFAULT_RL_WINDOW_SIZE = 50;
/** Event time after a signal at which its outcome is taken. */
export const DEFAULT_RL_HORIZON_MS = 60_000;
/** Resolved outcomes between two `model.evaluated`. */
export const DEFAULT_RL_EVALUATE_EVERY = 10;
/** How much the candidate's score must exceed live's (score units: mean PnL / sd). */
export const DEFAULT_RL_PROMOTION_MARGIN = 0.02;

// Disk buffer (docs/resilience.md).

/** Default row limit of a disk buffer. */
export const DEFAULT_BUFFER_MAX_ROWS = 1_000_000;
/** Default byte limit of a disk buffer (1 GiB of topic + type + body, UTF-8). */
export const DEFAULT_BUFFER_MAX_BYTES = 1024 ** 3;
/** How long a `block`ed append waits for room before it fails with QT_BUFFER_FULL. */
export const DEFAULT_BUFFER_BLOCK_TIMEOUT_MS = 30_000;

// Market data (docs/market-data.md).

/** Most ticks per second, per symbol, the synthetic feed makes (its timer cannot pace finer than 1 ms). */
export const MAX_SYNTHETIC_TICKS_PER_SECOND = 1_000;
