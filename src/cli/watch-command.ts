/**
 * `tessera watch KEY [--prefix] [--rev N] [--prev-kv] [--json]`: prints
 * changes as they are applied, until interrupted, through the client SDK
 * (which resumes after a member failure without losing or repeating one).
 *
 * @module
 */
import { connect, type Event, text } from '../client/index.ts';

/** Options of {@link watchCommand}. */
export interface WatchCommandOptions {
  readonly prefix: boolean;
  readonly revision?: number;
  readonly prevKv: boolean;
}

/** One change as `--json` prints it (UTF-8 keys and values). */
export function eventLine(event: Event): Record<string, unknown> {
  return {
    type: event.type,
    key: text(event.kv.key),
    value: text(event.kv.value),
    modRevision: event.kv.modRevision,
    createRevision: event.kv.createRevision,
    version: event.kv.version,
    lease: event.kv.lease,
    ...(event.prevKv === undefined ? {} : { prevValue: text(event.prevKv.value) }),
  };
}

/** Watches until `signal` aborts, calling `onEvent` for each change, in order. */
export async function watchCommand(
  endpoints: string[],
  key: string,
  options: WatchCommandOptions,
  signal: AbortSignal,
  onEvent: (event: Event) => void,
): Promise<void> {
  const client = await connect({ endpoints, signal });
  try {
    const input = options.prefix ? { prefix: key } : key;
    const watching = client.watch(input, {
      signal,
      prevKv: options.prevKv,
      ...(options.revision === undefined ? {} : { startRevision: options.revision }),
    });
    for await (const { events } of watching) for (const event of events) onEvent(event);
  } finally {
    client.close();
  }
}
