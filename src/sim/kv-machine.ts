/**
 * The simple replicated key-value machine the simulator drives, and the
 * encoding of its commands.
 *
 * @module
 */
import type { StateMachine } from '../raft/state-machine.ts';

/** A client command. */
export type KvCommand =
  | { op: 'get'; key: string }
  | { op: 'put'; key: string; value: string }
  | { op: 'cas'; key: string; expected: string | undefined; value: string };

/** What a command returns. */
export type KvOutput = { value: string | undefined } | Record<string, never> | { ok: boolean };

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
    switch (command.op) {
      case 'get':
        return { value: this.#data.get(command.key) };
      case 'put':
        this.#data.set(command.key, command.value);
        return {};
      case 'cas': {
        if (this.#data.get(command.key) !== command.expected) return { ok: false };
        this.#data.set(command.key, command.value);
        return { ok: true };
      }
    }
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
