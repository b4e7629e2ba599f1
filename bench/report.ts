/**
 * Shared benchmark helpers: latency percentiles, a table, and the final JSON
 * line every benchmark ends with.
 *
 * @module
 */

/** The value at quantile `q` (0..1) of `sortedSamples`. */
export function percentile(sortedSamples: Float64Array | number[], q: number): number {
  if (sortedSamples.length === 0) return Number.NaN;
  const index = Math.min(sortedSamples.length - 1, Math.floor(q * sortedSamples.length));
  return sortedSamples[index] as number;
}

/** Rounds to 3 significant decimals for the JSON line. */
export function round(value: number): number {
  return Number(value.toPrecision(3));
}

/** {@link round}, or NaN for a value that is missing or not finite (a table shows it as `NaN`). */
export function fixed(value: number | undefined): number {
  return value === undefined || !Number.isFinite(value) ? Number.NaN : round(value);
}

/** One row of a benchmark table. */
export type Row = Record<string, string | number>;

function formatCell(value: string | number): string {
  if (typeof value === 'string') return value;
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toFixed(value >= 10 ? 1 : 2);
}

/** Prints rows as an aligned text table. */
export function printTable(title: string, rows: Row[]): void {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0] as Row);
  const cells = rows.map((row) => columns.map((column) => formatCell(row[column] ?? '')));
  const widths = columns.map((column, i) =>
    Math.max(column.length, ...cells.map((line) => (line[i] as string).length)),
  );
  const line = (values: string[]): string =>
    values.map((value, i) => value.padStart(widths[i] as number)).join('  ');
  console.log(`\n${title}`);
  console.log(line(columns));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of cells) console.log(line(row));
}

/** Prints the machine-readable result: one JSON line, always the last line of output. */
export function printJsonLine(result: Record<string, unknown>): void {
  console.log(JSON.stringify(result));
}
