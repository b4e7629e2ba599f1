/**
 * Keys and values at the client's edge: callers pass text or bytes, the
 * store keeps bytes.
 *
 * @module
 */

/** A key or a value as a caller gives it: a string (sent as its UTF-8 bytes) or raw bytes. */
export type Bytes = string | Uint8Array;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The bytes of `input`: a string's UTF-8 encoding, or the bytes themselves
 * (not copied: the client never changes them).
 *
 * @throws {TypeError} when `input` is neither a string nor a `Uint8Array`.
 *
 * @example
 * ```ts
 * toBytes('café'); // Uint8Array [0x63, 0x61, 0x66, 0xc3, 0xa9]
 * ```
 */
export function toBytes(input: Bytes, what = 'key'): Uint8Array {
  if (typeof input === 'string') return encoder.encode(input);
  if (input instanceof Uint8Array) return input;
  throw new TypeError(`Cannot use ${what}: expected a string or a Uint8Array, got ${describe(input)}`);
}

/**
 * Decodes bytes the store returned (a key or a value) as UTF-8 text. Bytes
 * that are not valid UTF-8 decode with U+FFFD in their place; keep such
 * values as bytes.
 *
 * @example
 * ```ts
 * const kv = await client.kv.get('greeting');
 * if (kv !== undefined) console.log(text(kv.value));
 * ```
 */
export function text(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'an object';
  return typeof value;
}
