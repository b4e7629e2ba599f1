/**
 * The typed error of the storage layer: data on disk that fails its checks.
 *
 * @module
 */
import { registerErrorCode, TesseraError, type TesseraErrorOptions } from '../base/errors.ts';

/**
 * Durable data on disk is corrupt: a record or snapshot failed its checksum
 * or its invariants where a crash cannot explain it (in the middle of the
 * log, in a segment that is not the last, or with valid records after it).
 * The store refuses to open rather than guess: silently dropping a synced
 * record could make this member forget a vote or an acknowledged entry.
 * `details.file` and `details.offset` say where.
 *
 * @example
 * ```ts
 * try { await WalStores.open(dir); } catch (error) {
 *   if (error instanceof CorruptionError) console.error(error.details); // { file, offset }
 * }
 * ```
 */
export class CorruptionError extends TesseraError {
  constructor(message: string, options: TesseraErrorOptions = {}) {
    super('CORRUPT', message, options);
  }

  /** The file that failed its check, when known. */
  get file(): string | undefined {
    const file = this.details?.['file'];
    return typeof file === 'string' ? file : undefined;
  }

  /** The byte offset in {@link CorruptionError.file} where the bad data starts, when known. */
  get offset(): number | undefined {
    const offset = this.details?.['offset'];
    return typeof offset === 'number' ? offset : undefined;
  }
}

registerErrorCode('CORRUPT', CorruptionError);

/**
 * A {@link CorruptionError} for `file` at `offset`: "Cannot open `what`:
 * `file` is corrupt at byte `offset`: `why`".
 */
export function corruptionAt(what: string, file: string, offset: number, why: string): CorruptionError {
  return new CorruptionError(`Cannot open ${what}: ${file} is corrupt at byte ${offset}: ${why}`, {
    details: { file, offset },
  });
}
