/**
 * `tessera txn [-i] [--json]`: a transaction read from stdin in etcdctl's
 * `txn` format (parsed by `txn-parser.ts`), run on the cluster through the
 * client SDK, its response printed for people or as JSON.
 *
 * @module
 */
import { createInterface } from 'node:readline';
import { connect, text } from '../client/index.ts';
import type { KeyValue, ResponseOp, TxnRequest, TxnResponse } from '../kv/types.ts';
import { type KeyLine, keyLine } from './client-commands.ts';
import { parseTxn, TXN_INPUT_BYTES_MAX, TXN_PROMPTS, TxnInputError, TxnParser } from './txn-parser.ts';

export { TxnInputError };

/** Options of {@link readTxn}. */
export interface ReadTxnOptions {
  /** Read line by line, prompting before each block, and stop after the third (etcdctl's `-i`). */
  readonly interactive: boolean;
  /** Where prompts go (default nowhere). */
  readonly prompt?: (text: string) => void;
  /** Most bytes to read; default {@link TXN_INPUT_BYTES_MAX}. */
  readonly bytesMax?: number;
}

/**
 * Reads and parses a transaction from `input` (stdin): the whole stream,
 * or in interactive mode up to the third block's empty line.
 *
 * @throws {TxnInputError} when the input does not parse, or is empty, larger than `bytesMax` or not UTF-8.
 */
export async function readTxn(
  input: NodeJS.ReadableStream & AsyncIterable<string | Uint8Array>,
  options: ReadTxnOptions,
): Promise<TxnRequest> {
  const bytesMax = options.bytesMax ?? TXN_INPUT_BYTES_MAX;
  const tooLarge = () =>
    new TxnInputError(`Cannot read the transaction: the input exceeds ${bytesMax} bytes`);
  if (!options.interactive) {
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    for await (const chunk of input) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      bytes += buffer.length;
      if (bytes > bytesMax) throw tooLarge();
      chunks.push(buffer);
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
    } catch (error) {
      throw new TxnInputError('Cannot read the transaction: the input is not UTF-8 text', { cause: error });
    }
    return parseTxn(text);
  }
  const prompt = options.prompt ?? (() => {});
  const parser = new TxnParser();
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let bytes = 0;
  prompt(TXN_PROMPTS.compares);
  try {
    for await (const line of lines) {
      bytes += Buffer.byteLength(line) + 1;
      if (bytes > bytesMax) throw tooLarge();
      const before = parser.block;
      parser.addLine(line);
      const after = parser.block;
      if (after === 'done') break;
      if (after !== before) prompt(TXN_PROMPTS[after]);
    }
  } finally {
    lines.close();
  }
  return parser.request();
}

/**
 * Runs `request` on the cluster through the client SDK (a transaction
 * that only reads is retried as a read; one that writes only when it
 * surely did not happen).
 *
 * @throws the call's typed error, such as `OutcomeUnknownError`.
 */
export async function txnCommand(endpoints: string[], request: TxnRequest): Promise<TxnResponse> {
  const client = await connect({ endpoints });
  try {
    return await client.kv.txn(request);
  } finally {
    client.close();
  }
}

/** One response of {@link TxnResponseLine}: a {@link ResponseOp} with keys and values as UTF-8 text. */
export type ResponseLine =
  | { type: 'range'; response: { revision: number; kvs: KeyLine[]; more: boolean; count: number } }
  | { type: 'put'; response: { revision: number; prevKv?: KeyLine } }
  | { type: 'deleteRange'; response: { revision: number; deleted: number; prevKvs: KeyLine[] } }
  | { type: 'txn'; response: TxnResponseLine };

/** A {@link TxnResponse} as `tessera txn --json` prints it: keys and values as UTF-8 text, as `get --json`. */
export interface TxnResponseLine {
  succeeded: boolean;
  revision: number;
  responses: ResponseLine[];
}

/** `response` for `--json`. */
export function txnResponseLine(response: TxnResponse): TxnResponseLine {
  return {
    succeeded: response.succeeded,
    revision: response.revision,
    responses: response.responses.map(responseLine),
  };
}

function responseLine(response: ResponseOp): ResponseLine {
  switch (response.type) {
    case 'range': {
      const { revision, kvs, more, count } = response.response;
      return { type: 'range', response: { revision, kvs: kvs.map(keyLine), more, count } };
    }
    case 'put': {
      const { revision, prevKv } = response.response;
      return {
        type: 'put',
        response: { revision, ...(prevKv === undefined ? {} : { prevKv: keyLine(prevKv) }) },
      };
    }
    case 'deleteRange': {
      const { revision, deleted, prevKvs } = response.response;
      return { type: 'deleteRange', response: { revision, deleted, prevKvs: prevKvs.map(keyLine) } };
    }
    case 'txn':
      return { type: 'txn', response: txnResponseLine(response.response) };
  }
}

/**
 * `response` for people, as etcdctl prints it: `SUCCESS` or `FAILURE`,
 * then for each response an empty line and `OK` (put), the number deleted
 * (del) or a key line and a value line per key (get), followed by the
 * previous keys when `--prev-kv` asked for them.
 */
export function txnResponseText(response: TxnResponse): string {
  const lines = [response.succeeded ? 'SUCCESS' : 'FAILURE'];
  for (const result of response.responses) lines.push('', ...responseText(result));
  return lines.join('\n');
}

function responseText(result: ResponseOp): string[] {
  switch (result.type) {
    case 'range':
      return keyValueLines(result.response.kvs);
    case 'put':
      return ['OK', ...keyValueLines(result.response.prevKv === undefined ? [] : [result.response.prevKv])];
    case 'deleteRange':
      return [String(result.response.deleted), ...keyValueLines(result.response.prevKvs)];
    case 'txn':
      return [txnResponseText(result.response)];
  }
}

function keyValueLines(kvs: readonly KeyValue[]): string[] {
  return kvs.flatMap((kv) => [text(kv.key), text(kv.value)]);
}
