/**
 * The error of a market-data CSV that cannot be replayed (code
 * QT_FEED_INVALID): it names the file, the 1-based line, the 1-based column
 * and its name when one is at fault, and why, e.g.
 * `a.csv line 17, column 3 (high): "abc" is not a number`. `main` prints the
 * message and exits 2 (docs/market-data.md, "Errors").
 */
import { QtError } from '../../errors.js';

/** Where in a file something is wrong: the column is absent for a whole-line or whole-file problem. */
export interface CsvPlace {
  readonly file: string;
  readonly line: number;
  readonly column?: { readonly index: number; readonly name: string };
}

/** A CSV line that cannot be replayed; `line` and `column.index` are 1-based. */
export class OhlcvCsvError extends QtError {
  readonly file: string;
  readonly line: number;
  readonly column: CsvPlace['column'];
  readonly reason: string;

  constructor(place: CsvPlace, reason: string) {
    const column = place.column === undefined ? '' : `, column ${place.column.index} (${place.column.name})`;
    super('QT_FEED_INVALID', `${place.file} line ${place.line}${column}: ${reason}`, {
      details: { file: place.file, line: place.line, column: place.column?.index, reason },
    });
    this.name = 'OhlcvCsvError';
    this.file = place.file;
    this.line = place.line;
    this.column = place.column;
    this.reason = reason;
  }
}
