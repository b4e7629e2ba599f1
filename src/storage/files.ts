/**
 * File helpers the WAL and the snapshot store share.
 *
 * @module
 */

import { writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open, unlink } from 'node:fs/promises';

/** Writes all of `bytes` at `position`, however many calls it takes. Returns the number of calls. */
export async function writeFully(handle: FileHandle, bytes: Uint8Array, position: number): Promise<number> {
  let calls = 0;
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
    calls++;
  }
  return calls;
}

/**
 * {@link writeFully} on the calling thread: for the WAL's small appends a
 * write into the page cache costs less than the thread-pool round trip an
 * asynchronous write takes (its fdatasync still runs off the loop).
 * Returns the number of calls.
 */
export function writeFullySync(handle: FileHandle, bytes: Uint8Array, position: number): number {
  let calls = 0;
  for (let done = 0; done < bytes.length; ) {
    done += writeSync(handle.fd, bytes, done, bytes.length - done, position + done);
    calls++;
  }
  return calls;
}

/** Reads exactly `length` bytes at `position`. @throws {RangeError} (rejects) when the file ends first. */
export async function readFully(handle: FileHandle, length: number, position: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  for (let done = 0; done < length; ) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0)
      throw new RangeError(`Cannot read ${length} bytes at ${position}: the file ends first`);
    done += bytesRead;
  }
  return buffer;
}

/** Bytes of zeros written per call when zero-filling. */
const ZERO_FILL_CHUNK_BYTES = 1024 * 1024;
/** A buffer of zeros, never written to. */
export const ZEROS = Buffer.alloc(ZERO_FILL_CHUNK_BYTES);

/** Writes zeros over [from, to) of a file. */
export async function zeroFill(handle: FileHandle, from: number, to: number): Promise<void> {
  for (let at = from; at < to; at += ZERO_FILL_CHUNK_BYTES) {
    await writeFully(handle, ZEROS.subarray(0, Math.min(ZERO_FILL_CHUNK_BYTES, to - at)), at);
  }
}

/** fsyncs a directory, so that a file created, renamed or deleted in it stays so after a crash. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Whether `error` is a file-system error with code `code` (`ENOENT`, `ENOSPC`, ...). */
export function isErrorCode(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

/** Deletes a file that may already be gone. */
export async function unlinkIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (error) {
    if (!isErrorCode(error, 'ENOENT')) throw error;
  }
}
