/**
 * The simple replicated key-value machine the simulator drives, and the
 * encoding of its commands.
 *
 * @module
 */
import type { StateMachine } from '../raft/state-machine.ts';

import type { KvInput, KvOutput } from './kv-model.ts';

/** A client command: the calls the checker's model specifies. */
export type KvCommand = KvInput;
export type { KvOutput };

/** A command with the identity of the call that issued it. */
export interface KvRequest {
  clientId: number;
  requestId: number;
  command: KvCommand;
}

/** The result of applying one entry: which call it answers, and how. */
export interface KvApplied {
  clientId: number;
  requestId: number;
  output: KvOutput;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeRequest(request: KvRequest): Uint8Array {
  return encoder.encode(JSON.stringify(request));
}

export function decodeRequest(data: Uint8Array): KvRequest {
  return JSON.parse(decoder.decode(data)) as KvRequest;
}

/** Where a KV command reads and writes: a `Map`, or a transaction on disk. */
export interface KvCells {
  get(key: string): string | undefined;
  set(key: string, value: string): unknown;
}

/**
 * The KV commands' semantics, over any {@link KvCells}: the simulator's
 * in-memory machine and the server's LMDB state both run exactly this.
 */
export function executeKvCommand(cells: KvCells, command: KvCommand): KvOutput {
  switch (command.op) {
    case 'get':
      return { value: cells.get(command.key) };
    case 'put':
      cells.set(command.key, command.value);
      return {};
    case 'cas': {
      if (cells.get(command.key) !== command.expected) return { ok: false };
      cells.set(command.key, command.value);
      return { ok: true };
    }
  }
}

/** A map of strings with get, put and compare-and-set. */
export class KvMachine implements StateMachine<KvApplied | undefined> {
  #data = new Map<string, string>();

  /** Applies an entry; empty entries (a new leader's no-op) answer nobody. */
  apply(data: Uint8Array): KvApplied | undefined {
    if (data.length === 0) return undefined;
    const { clientId, requestId, command } = decodeRequest(data);
    return { clientId, requestId, output: this.execute(command) };
  }

  execute(command: KvCommand): KvOutput {
    return executeKvCommand(this.#data, command);
  }

  snapshot(): Uint8Array {
    return encoder.encode(JSON.stringify([...this.#data].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
  }

  restore(data: Uint8Array): void {
    this.#data =
      data.length === 0 ? new Map() : new Map(JSON.parse(decoder.decode(data)) as [string, string][]);
  }

  fingerprint(): string {
    return decoder.decode(this.snapshot());
  }
}
