/**
 * Whether the LMDB state a member finds on disk can be trusted, given that
 * its commits are not synced.
 *
 * The state's commits skip fdatasync (LMDB `noSync`): an fdatasync per
 * applied batch on the Raft loop cost every member about 0.3 ms of
 * blocking per batch, on the critical path of every write, and it bought
 * nothing the member cannot rebuild, because what is applied is always
 * covered, durably, by the latest snapshot and the WAL after it (the WAL is
 * compacted only behind a snapshot synced to disk; see
 * `node.ts#takeSnapshot`). What `noSync` gives up:
 *
 * - a process crash loses nothing: every commit is in the page cache, and
 *   LMDB never shows a half-written transaction;
 * - an operating-system crash or a power loss may leave the LMDB file torn
 *   (a meta page on disk that points at pages that never got there).
 *
 * So each session records the boot it ran in (Linux's
 * `/proc/sys/kernel/random/boot_id`) in a marker file beside the data,
 * synced, and marks a clean close, after a full LMDB sync, in the same
 * file. A member that finds the marker of a session that did not close
 * cleanly in an earlier boot (or no marker at all beside existing data,
 * or no way to tell the boot) discards the LMDB files and starts from an
 * empty state: the node then restores the latest snapshot and replays the
 * WAL, as after any restore.
 *
 * Written here rather than left to lmdb-js's `overlappingSync`, which does
 * the same boot-id bookkeeping but syncs inside the committing call when
 * the commit is synchronous (`transactionSync`, which the apply path needs
 * so that reads never see the in-memory state ahead of the disk).
 *
 * @module
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** The marker file in the state directory. */
const SESSION_FILE = 'session.json';
/** The data files LMDB keeps in the state directory. */
const LMDB_FILES = ['data.mdb', 'lock.mdb'] as const;
/** Where Linux tells the boot apart (a new random id at every boot). */
const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';

/** What a session marker holds. */
interface SessionMarker {
  /** The boot the session ran in; `null` where the system does not tell. */
  readonly bootId: string | null;
  /** Whether the session closed after syncing everything it committed. */
  readonly clean: boolean;
}

/** This boot's id, or null where the system does not tell it. */
export function currentBootId(): string | null {
  try {
    return readFileSync(BOOT_ID_PATH, 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/** The marker in `dir`, or undefined when it is missing or unreadable (a torn write). */
function readMarker(dir: string): SessionMarker | undefined {
  try {
    const parsed = JSON.parse(readFileSync(join(dir, SESSION_FILE), 'utf8')) as Partial<SessionMarker>;
    if (typeof parsed.clean !== 'boolean') return undefined;
    return { bootId: typeof parsed.bootId === 'string' ? parsed.bootId : null, clean: parsed.clean };
  } catch {
    return undefined;
  }
}

/**
 * Writes the marker in `dir` and syncs it. Written in place: a torn marker
 * reads as missing, which only costs a rebuild.
 */
export function writeSessionMarker(dir: string, marker: SessionMarker): void {
  const fd = openSync(join(dir, SESSION_FILE), 'w');
  try {
    writeSync(fd, JSON.stringify(marker));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether the LMDB data in `dir` may be torn: it exists, and the last
 * session neither closed cleanly nor ran in this boot (or left no marker,
 * or the boot cannot be told).
 */
export function stateMayBeTorn(dir: string, bootId: string | null): boolean {
  if (!existsSync(join(dir, 'data.mdb'))) return false;
  const marker = readMarker(dir);
  if (marker === undefined) return true;
  if (marker.clean) return false;
  return bootId === null || marker.bootId !== bootId;
}

/**
 * Begins a session on the state directory `dir` (which must exist): when
 * the data there may be torn, deletes it; then marks the session open.
 * Returns whether it deleted the data (the member rebuilds it from its
 * snapshot and WAL).
 *
 * @example
 * ```ts
 * const discarded = beginSession(dir);
 * const root = open({ path: dir, noSync: true });
 * ```
 */
export function beginSession(dir: string, bootId: string | null = currentBootId()): boolean {
  const torn = stateMayBeTorn(dir, bootId);
  if (torn) for (const file of LMDB_FILES) rmSync(join(dir, file), { force: true });
  writeSessionMarker(dir, { bootId, clean: false });
  return torn;
}

/** Marks the session on `dir` closed cleanly; call only after LMDB has synced everything committed. */
export function endSession(dir: string, bootId: string | null = currentBootId()): void {
  writeSessionMarker(dir, { bootId, clean: true });
}
