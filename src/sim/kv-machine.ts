/**
 * The simulator's client commands (get, put, compare-and-set), their
 * encoding in log entries, and their semantics over plain cells, which the
 * server's LMDB state still runs until the MVCC store (`src/kv/`, which the
 * simulator already runs: `mvcc-machine.ts`) moves into the server.
 *
 * @module
 */
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
  delete(key: string): unknown;
}

/**
 * The KV commands' semantics over any {@link KvCells}: what the server's
 * LMDB state runs, and the same semantics the simulator's `MvccMachine`
 * gives them on the MVCC store.
 */
export function executeKvCommand(cells: KvCells, command: KvCommand): KvOutput {
  switch (command.op) {
    case 'get':
      return { value: cells.get(command.key) };
    case 'put':
      cells.set(command.key, command.value);
      return {};
    case 'delete':
      cells.delete(command.key);
      return {};
    case 'cas': {
      if (cells.get(command.key) !== command.expected) return { ok: false };
      cells.set(command.key, command.value);
      return { ok: true };
    }
  }
}
