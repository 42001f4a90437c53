/**
 * A tally of the interesting cases a property test generated. A property
 * whose interesting inputs never came up proves nothing, so each property
 * counts, per run, which of its cases occurred, and an `after` hook fails the
 * file when a case occurred in fewer runs than its minimum share.
 */
import test from 'ava';

/** Per-run counts of a property's interesting cases, checked against minimum shares of the runs after the file's tests. */
export class CaseTally<K extends string> {
  #runs = 0;
  readonly #counts = new Map<K, number>();

  /**
   * @param property the property's name, for the hook's title and messages.
   * @param minShares for each case, the share of runs (0 < share ≤ 1) that must have it.
   */
  constructor(
    readonly property: string,
    readonly minShares: Readonly<Record<K, number>>,
  ) {
    test.after(`${property}: its interesting cases were generated`, (t) => {
      // Filtered out (ava --match): the property did not run, so there is nothing it claims to have checked.
      if (this.#runs === 0) return t.log(`${property} did not run`);
      t.log(`${this.#runs} runs: ${JSON.stringify(Object.fromEntries(this.#counts))}`);
      for (const [key, share] of Object.entries(this.minShares) as [K, number][]) {
        const count = this.#counts.get(key) ?? 0;
        t.true(
          count >= share * this.#runs,
          `${key}: in ${count} of ${this.#runs} runs, fewer than the minimum ${Math.ceil(share * this.#runs)}`,
        );
      }
    });
  }

  /** Starts one run; the returned function records a case of this run (counted once per run however often it is called). */
  run(): (key: K) => void {
    this.#runs++;
    const seen = new Set<K>();
    return (key) => {
      if (seen.has(key)) return;
      seen.add(key);
      this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
    };
  }
}
