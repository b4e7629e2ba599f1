/**
 * Automatic compaction, decided by the leader (etcd's
 * `--auto-compaction-mode` and `--auto-compaction-retention`):
 *
 * - `periodic`: keep about `retentionMs` of history. The revision is
 *   sampled every tenth of the retention; once a sample is `retentionMs`
 *   old, the store is compacted to it.
 * - `revision`: keep the last `retention` revisions, checked every
 *   `checkIntervalMs` (etcd: 5 minutes).
 *
 * Pure: the caller passes the time. A member that stops leading calls
 * {@link AutoCompactor.reset}: samples are the leader's own, so a new
 * leader waits a whole retention before its first periodic compaction
 * (as etcd's compactor does after it is resumed).
 *
 * @module
 */
import { InvalidArgumentError } from '../base/errors.ts';

/** What to keep. */
export type AutoCompaction =
  | { readonly mode: 'off' }
  | { readonly mode: 'periodic'; readonly retentionMs: number }
  | { readonly mode: 'revision'; readonly retention: number; readonly checkIntervalMs?: number };

/** How often `revision` mode looks, by default (etcd's revision compactor: every 5 minutes). */
export const REVISION_CHECK_INTERVAL_MS_DEFAULT = 5 * 60_000;

/** The shortest sampling interval of `periodic` mode. */
const SAMPLE_INTERVAL_MS_MIN = 100;

/**
 * Parses `--auto-compaction-mode` and `--auto-compaction-retention` as
 * etcd does: for `periodic`, a duration (`90s`, `30m`, `1h`, `1h30m`) or a
 * bare number of hours; for `revision`, a number of revisions; `0` turns
 * compaction off.
 *
 * @throws {InvalidArgumentError} on an unknown mode or a bad retention.
 */
export function parseAutoCompaction(mode: string, retention: string): AutoCompaction {
  if (mode === 'off') return { mode: 'off' };
  const text = retention.trim();
  if (mode === 'revision') {
    const revisions = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(revisions)) {
      throw new InvalidArgumentError(
        `auto-compaction retention must be a number of revisions in revision mode, got ${JSON.stringify(retention)}`,
      );
    }
    return revisions === 0 ? { mode: 'off' } : { mode: 'revision', retention: revisions };
  }
  if (mode === 'periodic') {
    const ms = durationMs(text);
    if (ms === undefined) {
      throw new InvalidArgumentError(
        `auto-compaction retention must be a duration (like 30m, 1h, 1h30m) or a number of hours in periodic mode, got ${JSON.stringify(retention)}`,
      );
    }
    return ms === 0 ? { mode: 'off' } : { mode: 'periodic', retentionMs: ms };
  }
  throw new InvalidArgumentError(
    `auto-compaction mode must be periodic, revision or off, got ${JSON.stringify(mode)}`,
  );
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `1h30m`, `90s`, `250ms` or a bare number of hours, in ms; undefined when malformed. */
function durationMs(text: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 3_600_000);
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== text) return undefined;
  const total = parts.reduce(
    (sum, part) => sum + Number(part[1]) * (UNIT_MS[part[2] as string] as number),
    0,
  );
  return Number.isSafeInteger(Math.round(total)) ? Math.round(total) : undefined;
}

/** Decides when the leader compacts, and to which revision. */
export class AutoCompactor {
  readonly policy: AutoCompaction;
  /** Periodic mode: [time, revision] samples, oldest first. */
  #samples: Array<{ at: number; revision: number }> = [];
  #lastCheck: number;

  constructor(policy: AutoCompaction, nowMs: number) {
    this.policy = policy;
    this.#lastCheck = nowMs;
  }

  /** Forgets what it sampled: this member stopped leading (or starts to). */
  reset(nowMs: number): void {
    this.#samples = [];
    this.#lastCheck = nowMs;
  }

  /**
   * Called by the leader now and then (each tick): the revision to compact
   * to now, or 0 for none. `revision` is the store's current revision,
   * `compacted` its compact revision.
   */
  due(nowMs: number, revision: number, compacted: number): number {
    const policy = this.policy;
    if (policy.mode === 'off') return 0;
    if (policy.mode === 'revision') {
      if (nowMs - this.#lastCheck < (policy.checkIntervalMs ?? REVISION_CHECK_INTERVAL_MS_DEFAULT)) return 0;
      this.#lastCheck = nowMs;
      const target = revision - policy.retention;
      return target > compacted ? target : 0;
    }
    const interval = Math.max(SAMPLE_INTERVAL_MS_MIN, Math.floor(policy.retentionMs / 10));
    const last = this.#samples[this.#samples.length - 1];
    if (last === undefined || nowMs - last.at >= interval) this.#samples.push({ at: nowMs, revision });
    // The newest sample at least a retention old is what to keep from; older ones are done with.
    let keepFrom: { at: number; revision: number } | undefined;
    while (
      this.#samples.length > 0 &&
      nowMs - (this.#samples[0] as { at: number }).at >= policy.retentionMs
    ) {
      keepFrom = this.#samples.shift();
    }
    if (keepFrom === undefined) return 0;
    return keepFrom.revision > compacted ? keepFrom.revision : 0;
  }
}
