/**
 * Keys as bytes: their order, their index form, and etcd's key spans
 * (`key`/`rangeEnd`).
 *
 * @module
 */

/** The `rangeEnd` meaning "every key from `key` on": the single byte 0 (etcd's `noPrefixEnd`). */
export const RANGE_END_ALL: Uint8Array = Uint8Array.of(0);

const EMPTY = new Uint8Array(0);

/**
 * A copy of `bytes` in a fresh `Uint8Array`. Not `bytes.slice()`: on a
 * `Buffer` (what MessagePack decodes bytes to) `slice` is a view that
 * shares memory with the decoded message.
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/**
 * Compares two byte strings byte-wise, a shorter prefix first, as
 * `Buffer.compare` and Go's `bytes.Compare` do.
 *
 * @returns a negative number, 0 or a positive number.
 */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const difference = (a[i] as number) - (b[i] as number);
    if (difference !== 0) return difference;
  }
  return a.length - b.length;
}

/**
 * The `rangeEnd` that makes a span cover every key starting with `prefix`
 * (etcd's `GetPrefixRangeEnd`): the prefix with trailing `0xff` bytes dropped
 * and its last byte incremented; {@link RANGE_END_ALL} when no such key
 * exists (an empty prefix, or one of only `0xff` bytes).
 *
 * @example
 * ```ts
 * const prefix = new TextEncoder().encode('/jobs/');
 * store.range({ key: prefix, rangeEnd: prefixEnd(prefix) }); // every key under /jobs/
 * ```
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const byte = prefix[i] as number;
    if (byte < 0xff) {
      const end = copyBytes(prefix.subarray(0, i + 1));
      end[i] = byte + 1;
      return end;
    }
  }
  return copyBytes(RANGE_END_ALL);
}

/**
 * The index form of a key: one UTF-16 code unit per byte (latin1). Strings
 * compare code unit by code unit, so this form sorts exactly as the bytes
 * do, and the ordered index compares keys natively instead of through a
 * byte loop; it also serves as a `Map` key.
 */
export function keyIdOf(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

/** The bytes of a key in its index form; the inverse of {@link keyIdOf}. */
export function keyOfId(keyId: string): Uint8Array {
  return new Uint8Array(Buffer.from(keyId, 'latin1'));
}

/**
 * The keys a request covers, in index form: `[startId, endId)`, `endId`
 * undefined meaning no upper bound. `single` marks a one-key span.
 */
export interface KeySpan {
  readonly startId: string;
  readonly endId: string | undefined;
  readonly single: boolean;
}

/**
 * The span of `key` and `rangeEnd` with etcd's rules: no or empty `rangeEnd`
 * is `key` alone; {@link RANGE_END_ALL} is every key `>= key`; otherwise
 * `[key, rangeEnd)`, empty when `rangeEnd <= key`.
 */
export function keySpanOf(key: Uint8Array, rangeEnd: Uint8Array | undefined): KeySpan {
  const startId = keyIdOf(key);
  const end = rangeEnd ?? EMPTY;
  if (end.length === 0) return { startId, endId: undefined, single: true };
  if (end.length === 1 && end[0] === 0) return { startId, endId: undefined, single: false };
  return { startId, endId: keyIdOf(end), single: false };
}

/** Whether the span holds the key (index form). */
export function keySpanHas(span: KeySpan, keyId: string): boolean {
  if (span.single) return keyId === span.startId;
  return keyId >= span.startId && (span.endId === undefined || keyId < span.endId);
}
