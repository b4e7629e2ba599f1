/**
 * The parser of `tessera txn` (see `txn-command.ts`): a transaction in
 * etcdctl's `txn` format, pure, no IO.
 *
 * The input is three blocks, each ended by an empty line: the compares,
 * the requests to run when they all pass, the requests to run otherwise.
 * A block left out at the end of the input is empty.
 *
 * ```text
 * mod("key1") > "0"
 * value("key2") = "on"
 *
 * put key1 "overwrote-key1"
 * get key2
 *
 * put key1 "created-key1"
 * del logs/ --prefix
 * ```
 *
 * - Compare: `TARGET("key") OP OPERAND`. TARGET is `version` (`ver`),
 *   `create` (`c`), `mod` (`m`), `value` (`val`) or `lease`; OP is `=`,
 *   `!=`, `<` or `>`; OPERAND is quoted or a bare word: a whole number, a
 *   value, or a hexadecimal lease id (`0`: no lease).
 * - Request: `put KEY VALUE [--lease=HEX] [--prev-kv]`,
 *   `get KEY [END] [--prefix] [--limit=N] [--rev=N]`,
 *   `del KEY [END] [--prefix] [--prev-kv]`. A flag's value follows `=` or
 *   comes as the next word.
 * - Words are separated by spaces; a word in double quotes is a JSON string
 *   (escapes `\"`, `\\`, `\n`, `\u00e9`...) and is never taken as a flag.
 *
 * {@link TxnParser} takes it a line at a time (interactive mode);
 * {@link parseTxn} all at once.
 *
 * @module
 */
import { InvalidArgumentError } from '../base/errors.ts';
import { compare, op } from '../client/index.ts';
import { REQUEST_BYTES_MAX, TXN_OPS_MAX } from '../kv/limits.ts';
import type { Compare, CompareResult, RequestOp, TxnRequest } from '../kv/types.ts';

/**
 * Most bytes of input {@link readTxn} takes: room for the largest request
 * the store accepts ({@link REQUEST_BYTES_MAX}) with every byte written as a
 * `\u` escape (6 characters), and the syntax around it.
 */
export const TXN_INPUT_BYTES_MAX = 8 * REQUEST_BYTES_MAX;

/** The three blocks of the input, in order. */
export type TxnBlock = 'compares' | 'success' | 'failure';

const BLOCKS: readonly TxnBlock[] = ['compares', 'success', 'failure'];

/** What interactive mode prints before each block (etcdctl's prompts). */
export const TXN_PROMPTS: Readonly<Record<TxnBlock, string>> = {
  compares: 'compares:',
  success: 'success requests (get, put, del):',
  failure: 'failure requests (get, put, del):',
};

/**
 * The input of `tessera txn` cannot be run: a line that does not parse, or
 * input that is empty, too large or not UTF-8. Nothing was sent.
 */
export class TxnInputError extends InvalidArgumentError {
  /** The 1-based number of the offending line, when one line is at fault. */
  readonly lineNumber: number | undefined;

  constructor(message: string, options: { lineNumber?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'TxnInputError';
    this.lineNumber = options.lineNumber;
  }
}

/** What one line got wrong; {@link onLine} adds the line and its number. */
class LineProblem extends Error {}

function fail(reason: string): never {
  throw new LineProblem(reason);
}

function onLine<T>(line: string, lineNumber: number, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof LineProblem)) throw error;
    throw new TxnInputError(`Cannot parse line ${lineNumber} \`${line.trim()}\`: ${error.message}`, {
      lineNumber,
    });
  }
}

const TARGETS = {
  ver: 'version',
  version: 'version',
  c: 'createRevision',
  create: 'createRevision',
  m: 'modRevision',
  mod: 'modRevision',
  val: 'value',
  value: 'value',
  lease: 'lease',
} as const satisfies Record<string, Compare['target']>;

const OPERATORS: Readonly<Record<string, CompareResult>> = {
  '=': 'equal',
  '!=': 'notEqual',
  '<': 'less',
  '>': 'greater',
};

/**
 * One compare line, such as `mod("key1") > "0"`.
 *
 * @throws {TxnInputError} naming the line when it does not parse.
 *
 * @example
 * ```ts
 * parseCompare('value("config") = "v1"'); // compare.value('config', 'equal', 'v1')
 * ```
 */
export function parseCompare(line: string, lineNumber = 1): Compare {
  return onLine(line, lineNumber, () => compareOf(line.trim()));
}

function compareOf(line: string): Compare {
  const open = line.indexOf('(');
  if (open < 0) fail('expected a compare such as mod("key") > "0"');
  const targetName = line.slice(0, open).trim();
  if (!Object.hasOwn(TARGETS, targetName)) {
    fail(
      `unknown compare target "${targetName}"; use version (ver), create (c), mod (m), value (val) or lease`,
    );
  }
  const target = TARGETS[targetName as keyof typeof TARGETS];
  const keyStart = skipSpaces(line, open + 1);
  if (line[keyStart] !== '"') fail(`the key must be double-quoted, as in ${targetName}("key")`);
  const { value: key, end: keyEnd } = readQuoted(line, keyStart);
  if (key === '') fail('the key must not be empty');
  const close = skipSpaces(line, keyEnd);
  if (line[close] !== ')') fail('expected ) after the key');
  const operatorStart = skipSpaces(line, close + 1);
  const rest = line.slice(operatorStart);
  const operator = /^[=!<>]+/.exec(rest)?.[0] ?? rest.split(/\s/)[0] ?? '';
  const result = OPERATORS[operator];
  if (result === undefined) {
    fail(
      operator === ''
        ? 'missing operator; use =, !=, < or >'
        : `bad operator "${operator}"; use =, !=, < or >`,
    );
  }
  const operands = tokenize(line, operatorStart + operator.length);
  if (operands.length !== 1) fail(`expected one operand after ${operator}, got ${operands.length}`);
  const operand = (operands[0] as Token).text;
  switch (target) {
    case 'value':
      return compare.value(key, result, operand);
    case 'lease':
      return compare.lease(key, result, leaseIdOf(operand));
    case 'version':
      return compare.version(key, result, wholeNumberOf(operand, 'a version'));
    case 'createRevision':
      return compare.createRevision(key, result, wholeNumberOf(operand, 'a revision'));
    case 'modRevision':
      return compare.modRevision(key, result, wholeNumberOf(operand, 'a revision'));
  }
}

function wholeNumberOf(text: string, what: string): number {
  const parsed = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(parsed)) fail(`expected ${what} (a whole number), got "${text}"`);
  return parsed;
}

/** A lease id in hexadecimal as etcdctl prints it (an optional `0x`); 0 is no lease. */
function leaseIdOf(text: string): number {
  const digits = text.replace(/^0x/i, '');
  if (!/^[0-9a-f]+$/i.test(digits)) fail(`bad lease id "${text}": expected a hexadecimal number`);
  const id = Number.parseInt(digits, 16);
  // Tessera keeps lease ids as safe integers; etcd's may use all 64 bits.
  if (!Number.isSafeInteger(id)) fail(`bad lease id "${text}": above 1fffffffffffff, the largest lease id`);
  return id;
}

/** The flags each request takes: a boolean flag, or one whose value is a whole number or a lease id. */
const REQUEST_FLAGS = {
  put: { lease: 'lease', 'prev-kv': 'boolean' },
  get: { prefix: 'boolean', limit: 'number', rev: 'number' },
  del: { prefix: 'boolean', 'prev-kv': 'boolean' },
} as const satisfies Record<string, Record<string, 'boolean' | 'number' | 'lease'>>;

type Verb = keyof typeof REQUEST_FLAGS;

/**
 * One request line: `put KEY VALUE`, `get KEY`, `del KEY`, with the flags
 * in the module's description.
 *
 * @throws {TxnInputError} naming the line when it does not parse.
 *
 * @example
 * ```ts
 * parseRequest('get jobs/ --prefix --limit=10'); // op.get({ prefix: 'jobs/', limit: 10 })
 * ```
 */
export function parseRequest(line: string, lineNumber = 1): RequestOp {
  return onLine(line, lineNumber, () => requestOf(line.trim()));
}

function requestOf(line: string): RequestOp {
  const [verbToken, ...rest] = tokenize(line);
  const verb = verbToken?.quoted === false ? verbToken.text : '';
  if (!Object.hasOwn(REQUEST_FLAGS, verb)) {
    fail(`unknown request "${verbToken?.text ?? ''}"; use get, put or del`);
  }
  const { positionals, flags } = argumentsOf(verb as Verb, rest);
  const prevKv = flags.has('prev-kv') ? { prevKv: true } : {};
  if (verb === 'put') {
    if (positionals.length !== 2) fail(`put takes a key and a value, got ${positionals.length} arguments`);
    const [key, value] = positionals as [string, string];
    const lease = flags.has('lease') ? leaseIdOf(flags.get('lease') as string) : 0;
    return op.put(nonEmptyKey(key), value, { ...(lease === 0 ? {} : { lease }), ...prevKv });
  }
  const prefix = flags.has('prefix');
  if (positionals.length < 1 || positionals.length > (prefix ? 1 : 2)) {
    fail(`${verb} takes a key${prefix ? ' (with --prefix, only that)' : ' and an optional range end'}`);
  }
  const [key, rangeEnd] = positionals as [string, string | undefined];
  const span = prefix
    ? { prefix: key }
    : { key: nonEmptyKey(key), ...(rangeEnd === undefined ? {} : { rangeEnd }) };
  if (verb === 'del') return op.delete(span, prevKv);
  const limit = flags.get('limit');
  const revision = flags.get('rev');
  return op.get({
    ...span,
    ...(limit === undefined ? {} : { limit: wholeNumberOf(limit, '--limit') }),
    ...(revision === undefined ? {} : { revision: wholeNumberOf(revision, '--rev') }),
  });
}

function nonEmptyKey(key: string): string {
  if (key === '') fail('the key must not be empty');
  return key;
}

/** Splits a request's words into its positional arguments and its flags (`--name=value`, `--name value`). */
function argumentsOf(
  verb: Verb,
  tokens: readonly Token[],
): { positionals: string[]; flags: Map<string, string> } {
  const known: Readonly<Record<string, string>> = REQUEST_FLAGS[verb];
  const positionals: string[] = [];
  const flags = new Map<string, string>();
  for (let index = 0; index < tokens.length; index += 1) {
    const token = tokens[index] as Token;
    if (token.quoted || !token.text.startsWith('-')) {
      positionals.push(token.text);
      continue;
    }
    const equals = token.text.indexOf('=');
    const name = token.text.slice(0, equals < 0 ? undefined : equals).replace(/^--/, '');
    const kind = token.text.startsWith('--') && Object.hasOwn(known, name) ? known[name] : undefined;
    if (kind === undefined) {
      const choices = Object.keys(known).map((flag) => `--${flag}`);
      fail(
        `unknown flag ${token.text.slice(0, equals < 0 ? undefined : equals)} for ${verb}; use ${choices.join(', ')}`,
      );
    }
    if (flags.has(name)) fail(`--${name} given twice`);
    if (kind === 'boolean') {
      if (equals >= 0) fail(`--${name} takes no value`);
      flags.set(name, '');
    } else if (equals >= 0) {
      flags.set(name, token.text.slice(equals + 1));
    } else {
      const value = tokens[index + 1];
      if (value === undefined) fail(`--${name} needs a value`);
      flags.set(name, value.text);
      index += 1;
    }
  }
  return { positionals, flags };
}

/** A word of a line, and whether it was quoted (a quoted word is never a flag). */
interface Token {
  readonly text: string;
  readonly quoted: boolean;
}

/** The words of `text` from index `from` on. */
function tokenize(text: string, from = 0): Token[] {
  const tokens: Token[] = [];
  let index = skipSpaces(text, from);
  while (index < text.length) {
    if (text[index] === '"') {
      const { value, end } = readQuoted(text, index);
      if (end < text.length && !/\s/.test(text[end] as string))
        fail('expected a space after a closing quote');
      tokens.push({ text: value, quoted: true });
      index = end;
    } else {
      const end = text.slice(index).search(/\s/);
      const word = end < 0 ? text.slice(index) : text.slice(index, index + end);
      if (word.includes('"')) fail(`a quote inside the word ${word}; quote the whole word`);
      tokens.push({ text: word, quoted: false });
      index += word.length;
    }
    index = skipSpaces(text, index);
  }
  return tokens;
}

/** The JSON string starting at `start` (a `"`), and the index after its closing quote. */
function readQuoted(text: string, start: number): { value: string; end: number } {
  let index = start + 1;
  while (index < text.length && text[index] !== '"') index += text[index] === '\\' ? 2 : 1;
  if (index >= text.length) fail(`unterminated quote: the string at column ${start + 1} has no closing "`);
  const literal = text.slice(start, index + 1);
  try {
    return { value: JSON.parse(literal) as string, end: index + 1 };
  } catch {
    return fail(`${literal} is not a valid JSON string`);
  }
}

function skipSpaces(text: string, from: number): number {
  let index = from;
  while (index < text.length && /\s/.test(text[index] as string)) index += 1;
  return index;
}

/**
 * Reads a transaction line by line, as a person types it: each empty line
 * ends a block, and after the third the input is complete. Pure; at most
 * {@link TXN_OPS_MAX} lines per block.
 *
 * @example
 * ```ts
 * const parser = new TxnParser();
 * for (const line of ['version("lock") = "0"', '', 'put lock me']) parser.addLine(line);
 * parser.block; // 'success'
 * parser.request(); // { compare: [...], success: [op.put('lock', 'me')], failure: [] }
 * ```
 */
export class TxnParser {
  readonly #compares: Compare[] = [];
  readonly #success: RequestOp[] = [];
  readonly #failure: RequestOp[] = [];
  // Invariant: 0 to 3, the index in BLOCKS of the block being read; 3 once all three have ended.
  #blockIndex = 0;
  #lineNumber = 0;

  /** The block the next line belongs to, or `done` after the third block's empty line. */
  get block(): TxnBlock | 'done' {
    return BLOCKS[this.#blockIndex] ?? 'done';
  }

  /**
   * Takes the next line (with or without its line break).
   *
   * @throws {TxnInputError} when the line does not parse, a block holds more than
   * {@link TXN_OPS_MAX} lines, or a line comes after the third block.
   */
  addLine(text: string): void {
    this.#lineNumber += 1;
    const line = text.trim();
    const block = this.block;
    if (line === '') {
      if (block !== 'done') this.#blockIndex += 1;
      return;
    }
    if (block === 'done') {
      throw new TxnInputError(
        `Cannot parse line ${this.#lineNumber} \`${line}\`: the failure requests ended at the empty line before it`,
        { lineNumber: this.#lineNumber },
      );
    }
    const lines = block === 'compares' ? this.#compares : block === 'success' ? this.#success : this.#failure;
    if (lines.length === TXN_OPS_MAX) {
      throw new TxnInputError(
        `Cannot parse line ${this.#lineNumber}: more than ${TXN_OPS_MAX} lines of ${block}, the most a transaction takes`,
        { lineNumber: this.#lineNumber },
      );
    }
    if (block === 'compares') this.#compares.push(parseCompare(line, this.#lineNumber));
    else (block === 'success' ? this.#success : this.#failure).push(parseRequest(line, this.#lineNumber));
  }

  /**
   * The transaction read so far.
   *
   * @throws {TxnInputError} when it holds no compare and no request.
   */
  request(): TxnRequest {
    if (this.#compares.length + this.#success.length + this.#failure.length === 0) {
      throw new TxnInputError('Cannot run the transaction: the input holds no compares and no requests');
    }
    return { compare: [...this.#compares], success: [...this.#success], failure: [...this.#failure] };
  }
}

/**
 * A whole transaction, as `tessera txn` reads it from a pipe.
 *
 * @throws {TxnInputError} naming the first line that does not parse, or when nothing is given.
 *
 * @example
 * ```ts
 * parseTxn('mod("key1") > "0"\n\nput key1 "overwrote-key1"\n');
 * ```
 */
export function parseTxn(text: string): TxnRequest {
  const parser = new TxnParser();
  // A final line break yields an empty last line: it only ends a block that nothing follows.
  for (const line of text.split('\n')) parser.addLine(line);
  return parser.request();
}
