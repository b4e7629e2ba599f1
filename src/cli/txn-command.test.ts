import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../base/errors.ts';
import { TXN_OPS_MAX } from '../kv/limits.ts';
import type { KeyValue, TxnResponse } from '../kv/types.ts';
import { readTxn, txnResponseLine, txnResponseText } from './txn-command.ts';
import { parseCompare, parseRequest, parseTxn, TXN_PROMPTS, TxnInputError, TxnParser } from './txn-parser.ts';

const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);

/** Asserts that `parse` throws a {@link TxnInputError} whose message matches `pattern`. */
function assertInputError(parse: () => unknown, pattern: RegExp): void {
  assert.throws(parse, (error: unknown) => {
    assert.ok(error instanceof TxnInputError, `expected a TxnInputError, got ${String(error)}`);
    assert.match(error.message, pattern);
    return true;
  });
}

describe('parseCompare', () => {
  it('reads every target under its long and its short name', () => {
    const key = bytes('k');
    const cases: [string, object][] = [
      ['version("k") = "3"', { key, result: 'equal', target: 'version', version: 3 }],
      ['ver("k") = "3"', { key, result: 'equal', target: 'version', version: 3 }],
      ['create("k") < "5"', { key, result: 'less', target: 'createRevision', createRevision: 5 }],
      ['c("k") < "5"', { key, result: 'less', target: 'createRevision', createRevision: 5 }],
      ['mod("k") > "0"', { key, result: 'greater', target: 'modRevision', modRevision: 0 }],
      ['m("k") > "0"', { key, result: 'greater', target: 'modRevision', modRevision: 0 }],
      [
        'value("k") = "overwrote-key1"',
        { key, result: 'equal', target: 'value', value: bytes('overwrote-key1') },
      ],
      [
        'val("k") = "overwrote-key1"',
        { key, result: 'equal', target: 'value', value: bytes('overwrote-key1') },
      ],
      ['lease("k") = "694d77aa"', { key, result: 'equal', target: 'lease', lease: 0x694d77aa }],
      ['lease("k") = "0x1F"', { key, result: 'equal', target: 'lease', lease: 31 }],
      ['lease("k") = "0"', { key, result: 'equal', target: 'lease', lease: 0 }],
    ];
    for (const [line, expected] of cases) assert.deepEqual(parseCompare(line), expected, line);
  });

  it('reads every operator', () => {
    const results = ['=', '!=', '<', '>'].map((operator) => parseCompare(`mod("k") ${operator} "1"`).result);
    assert.deepEqual(results, ['equal', 'notEqual', 'less', 'greater']);
  });

  it('takes a bare operand and any spacing around the parts', () => {
    assert.deepEqual(parseCompare('  mod( "k" )>7  '), {
      key: bytes('k'),
      result: 'greater',
      target: 'modRevision',
      modRevision: 7,
    });
    assert.deepEqual(parseCompare('value("k") != on'), {
      key: bytes('k'),
      result: 'notEqual',
      target: 'value',
      value: bytes('on'),
    });
  });

  it('reads the key and the operand as JSON strings, escapes included', () => {
    const parsed = parseCompare(String.raw`value("a \"quoted\" key\u00e9") = "two\nlines\tand \\ \u263a"`);
    assert.deepEqual(parsed, {
      key: bytes('a "quoted" keyé'),
      result: 'equal',
      target: 'value',
      value: bytes('two\nlines\tand \\ ☺'),
    });
  });

  it('refuses a malformed compare, naming the problem and the line', () => {
    assertInputError(() => parseCompare('modrev("k") = "1"'), /unknown compare target "modrev"/);
    assertInputError(() => parseCompare('put k v'), /expected a compare such as/);
    assertInputError(() => parseCompare('mod("k") == "1"'), /bad operator "=="/);
    assertInputError(() => parseCompare('mod("k") >= "1"'), /bad operator ">="/);
    assertInputError(() => parseCompare('mod("k") ~ "1"'), /bad operator "~"/);
    assertInputError(() => parseCompare('mod("k")'), /missing operator/);
    assertInputError(() => parseCompare('value("k") = "abc'), /unterminated quote: the string at column 14/);
    assertInputError(() => parseCompare('value("k = "abc"'), /expected \) after the key/);
    assertInputError(() => parseCompare('value("k") = "\\q"'), /not a valid JSON string/);
    assertInputError(() => parseCompare('mod(k) > "0"'), /the key must be double-quoted/);
    assertInputError(() => parseCompare('mod("") > "0"'), /the key must not be empty/);
    assertInputError(() => parseCompare('mod("k") > "0" "1"'), /expected one operand after >, got 2/);
    assertInputError(() => parseCompare('version("k") = "three"'), /expected a version \(a whole number\)/);
    assertInputError(() => parseCompare('create("k") = "-1"'), /expected a revision/);
    assertInputError(() => parseCompare('lease("k") = "xyz"'), /bad lease id "xyz": expected a hexadecimal/);
    assertInputError(() => parseCompare('lease("k") = "694d77aa9e38260f"'), /above 1fffffffffffff/);
    assert.throws(
      () => parseCompare('mod("k") => "1"', 7),
      (error: unknown) =>
        error instanceof TxnInputError &&
        error instanceof InvalidArgumentError &&
        error.code === 'INVALID_ARGUMENT' &&
        error.lineNumber === 7 &&
        error.message === 'Cannot parse line 7 `mod("k") => "1"`: bad operator "=>"; use =, !=, < or >',
    );
  });
});

describe('parseRequest', () => {
  it('reads put with bare and quoted words, a lease in hexadecimal and --prev-kv', () => {
    assert.deepEqual(parseRequest('put key1 "overwrote key1"'), {
      type: 'put',
      request: { key: bytes('key1'), value: bytes('overwrote key1') },
    });
    assert.deepEqual(parseRequest('put --lease=1f k v'), {
      type: 'put',
      request: { key: bytes('k'), value: bytes('v'), lease: 31 },
    });
    assert.deepEqual(parseRequest('put k v --lease 694d77aa --prev-kv'), {
      type: 'put',
      request: { key: bytes('k'), value: bytes('v'), lease: 0x694d77aa, prevKv: true },
    });
    assert.deepEqual(parseRequest('put k v --lease=0'), {
      type: 'put',
      request: { key: bytes('k'), value: bytes('v') },
    });
    // A quoted word is never a flag; an empty quoted value is a value.
    assert.deepEqual(parseRequest('put "--prefix" ""'), {
      type: 'put',
      request: { key: bytes('--prefix'), value: bytes('') },
    });
  });

  it('reads get with a range end, --prefix, --limit and --rev in either spelling', () => {
    assert.deepEqual(parseRequest('get key1'), { type: 'range', request: { key: bytes('key1') } });
    assert.deepEqual(parseRequest('get a c'), {
      type: 'range',
      request: { key: bytes('a'), rangeEnd: bytes('c') },
    });
    assert.deepEqual(parseRequest('get --prefix app/ --limit=5 --rev 7'), {
      type: 'range',
      request: { key: bytes('app/'), rangeEnd: bytes('app0'), limit: 5, revision: 7 },
    });
    // An empty prefix is every key (etcd's key and range end "\0").
    assert.deepEqual(parseRequest('get "" --prefix'), {
      type: 'range',
      request: { key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) },
    });
  });

  it('reads del with a range end, --prefix and --prev-kv', () => {
    assert.deepEqual(parseRequest('del k'), { type: 'deleteRange', request: { key: bytes('k') } });
    assert.deepEqual(parseRequest('del a c'), {
      type: 'deleteRange',
      request: { key: bytes('a'), rangeEnd: bytes('c') },
    });
    assert.deepEqual(parseRequest('del "tmp/" --prefix --prev-kv'), {
      type: 'deleteRange',
      request: { key: bytes('tmp/'), rangeEnd: bytes('tmp0'), prevKv: true },
    });
  });

  it('refuses a malformed request, naming the problem and the line', () => {
    assertInputError(() => parseRequest('set k v'), /unknown request "set"; use get, put or del/);
    assertInputError(() => parseRequest('"put" k v'), /unknown request "put"/);
    assertInputError(() => parseRequest('put k'), /put takes a key and a value, got 1 arguments/);
    assertInputError(() => parseRequest('put k v w'), /put takes a key and a value, got 3/);
    assertInputError(() => parseRequest('put "" v'), /the key must not be empty/);
    assertInputError(() => parseRequest('get a b c'), /get takes a key and an optional range end/);
    assertInputError(() => parseRequest('del a b --prefix'), /del takes a key \(with --prefix, only that\)/);
    assertInputError(() => parseRequest('get'), /get takes a key/);
    assertInputError(() => parseRequest('get k --from-key'), /unknown flag --from-key for get; use --prefix/);
    assertInputError(() => parseRequest('put k v --prefix'), /unknown flag --prefix for put/);
    assertInputError(() => parseRequest('get k -p'), /unknown flag -p for get/);
    assertInputError(() => parseRequest('get k --prefix=true'), /--prefix takes no value/);
    assertInputError(() => parseRequest('get k --limit'), /--limit needs a value/);
    assertInputError(() => parseRequest('get k --limit=-1'), /expected --limit \(a whole number\), got "-1"/);
    assertInputError(() => parseRequest('get k --rev=1 --rev=2'), /--rev given twice/);
    assertInputError(() => parseRequest('put --lease=zz k v'), /bad lease id "zz"/);
    assertInputError(() => parseRequest('put k "v'), /unterminated quote: the string at column 7/);
    assertInputError(() => parseRequest('put k v"x'), /a quote inside the word v"x/);
    assertInputError(() => parseRequest('put "k"v x'), /expected a space after a closing quote/);
    assert.throws(
      () => parseRequest('  get k --rev=x  ', 4),
      (error: unknown) =>
        error instanceof TxnInputError &&
        error.lineNumber === 4 &&
        error.message === 'Cannot parse line 4 `get k --rev=x`: expected --rev (a whole number), got "x"',
    );
  });
});

describe('parseTxn', () => {
  const put = (key: string, value: string) => ({
    type: 'put',
    request: { key: bytes(key), value: bytes(value) },
  });
  const modAbove = (key: string, revision: number) => ({
    key: bytes(key),
    result: 'greater',
    target: 'modRevision',
    modRevision: revision,
  });

  it("reads etcdctl's example: compares, success and failure requests split by empty lines", () => {
    const input = [
      'mod("key1") > "0"',
      '',
      'put key1 "overwrote-key1"',
      '',
      'put key1 "created-key1"',
      'put key2 "some extra key"',
      '',
    ].join('\n');
    assert.deepEqual(parseTxn(input), {
      compare: [modAbove('key1', 0)],
      success: [put('key1', 'overwrote-key1')],
      failure: [put('key1', 'created-key1'), put('key2', 'some extra key')],
    });
  });

  it('takes a line of spaces as empty, and CRLF line ends', () => {
    const input = 'mod("a") > "1"\r\nmod("b") > "2"\r\n   \r\nput a 1\r\n\t\r\nput b 2\r\n';
    assert.deepEqual(parseTxn(input), {
      compare: [modAbove('a', 1), modAbove('b', 2)],
      success: [put('a', '1')],
      failure: [put('b', '2')],
    });
  });

  it('leaves out blocks as etcdctl does: missing ones at the end, empty ones by their empty line', () => {
    assert.deepEqual(parseTxn('mod("a") > "1"\n\nput a 1\n'), {
      compare: [modAbove('a', 1)],
      success: [put('a', '1')],
      failure: [],
    });
    assert.deepEqual(parseTxn('mod("a") > "1"'), { compare: [modAbove('a', 1)], success: [], failure: [] });
    assert.deepEqual(parseTxn('\nput a 1\n'), { compare: [], success: [put('a', '1')], failure: [] });
    assert.deepEqual(parseTxn('\n\nput a 1\n\n\n\n'), { compare: [], success: [], failure: [put('a', '1')] });
  });

  it('refuses a line after the failure requests, naming it', () => {
    assertInputError(
      () => parseTxn('mod("a") > "1"\n\nput a 1\n\nput a 2\n\nput a 3\n'),
      /^Cannot parse line 7 `put a 3`: the failure requests ended/,
    );
  });

  it('names the line of the first error in any block', () => {
    assertInputError(
      () => parseTxn('mod("a") > "1"\n\nput a 1\n\nput a 2\nfrob a\n'),
      /^Cannot parse line 6 /,
    );
    assertInputError(
      () => parseTxn('\nput a 1\nput "a\n'),
      /^Cannot parse line 3 `put "a`: unterminated quote/,
    );
  });

  it('refuses input with no compare and no request', () => {
    assertInputError(() => parseTxn(''), /holds no compares and no requests/);
    assertInputError(() => parseTxn('\n\n\n\n'), /holds no compares and no requests/);
  });

  it(`refuses more than TXN_OPS_MAX (${TXN_OPS_MAX}) lines in a block`, () => {
    const compares = Array.from({ length: TXN_OPS_MAX }, (_, index) => `mod("k${index}") > "0"`);
    assert.equal(parseTxn(compares.join('\n')).compare?.length, TXN_OPS_MAX);
    assertInputError(
      () => parseTxn([...compares, 'mod("one-more") > "0"'].join('\n')),
      new RegExp(`^Cannot parse line ${TXN_OPS_MAX + 1}: more than ${TXN_OPS_MAX} lines of compares`),
    );
  });
});

describe('TxnParser', () => {
  it('moves through the blocks at each empty line, and is done after the third', () => {
    const parser = new TxnParser();
    const blocks = ['mod("a") > "1"', '', 'put a 1', '', ''].map((line) => {
      parser.addLine(line);
      return parser.block;
    });
    assert.deepEqual(blocks, ['compares', 'success', 'success', 'failure', 'done']);
    parser.addLine('   ');
    assert.equal(parser.block, 'done');
  });
});

describe('readTxn', () => {
  const lines = (...items: string[]) => Readable.from(items.map((item) => `${item}\n`));

  it('interactive: prompts before each block and stops reading after the third', async () => {
    const prompts: string[] = [];
    // The line after the third block is never read, so its bad syntax does not matter.
    const input = lines('mod("a") > "1"', '', 'put a 1', '', 'get a', '', 'not a request');
    const request = await readTxn(input, { interactive: true, prompt: (text) => prompts.push(text) });
    assert.deepEqual(prompts, [TXN_PROMPTS.compares, TXN_PROMPTS.success, TXN_PROMPTS.failure]);
    assert.deepEqual(prompts, [
      'compares:',
      'success requests (get, put, del):',
      'failure requests (get, put, del):',
    ]);
    assert.equal(request.compare?.length, 1);
    assert.deepEqual(request.failure, [{ type: 'range', request: { key: bytes('a') } }]);
  });

  it('interactive: stops at the first bad line, naming it', async () => {
    const prompts: string[] = [];
    const input = lines('mod("a") > "1"', '', 'pot a 1', '', 'get a', '');
    await assert.rejects(
      readTxn(input, { interactive: true, prompt: (text) => prompts.push(text) }),
      /^TxnInputError: Cannot parse line 3 `pot a 1`: unknown request "pot"/,
    );
    assert.equal(prompts.length, 2);
  });

  it('not interactive: reads the whole input, to its end', async () => {
    const input = Readable.from([Buffer.from('mod("a") > "1"\n\nput a '), Buffer.from('"\u00e9"\n')]);
    assert.deepEqual(await readTxn(input, { interactive: false }), {
      compare: [{ key: bytes('a'), result: 'greater', target: 'modRevision', modRevision: 1 }],
      success: [{ type: 'put', request: { key: bytes('a'), value: bytes('é') } }],
      failure: [],
    });
  });

  it('refuses input above bytesMax, and input that is not UTF-8', async () => {
    const input = 'mod("a") > "1"\n\nput a 1\n';
    await assert.rejects(
      readTxn(lines(input), { interactive: false, bytesMax: input.length - 1 }),
      new RegExp(`^TxnInputError: Cannot read the transaction: the input exceeds ${input.length - 1} bytes`),
    );
    await assert.rejects(
      readTxn(lines('mod("a") > "1"', '', 'put a 1'), { interactive: true, bytesMax: 20 }),
      /exceeds 20 bytes/,
    );
    assert.equal(
      (await readTxn(lines(input), { interactive: false, bytesMax: input.length + 1 })).success?.length,
      1,
    );
    await assert.rejects(
      readTxn(Readable.from([Buffer.from([0x70, 0x75, 0x74, 0x20, 0xff])]), { interactive: false }),
      /the input is not UTF-8 text/,
    );
  });
});

describe('txnResponseText and txnResponseLine', () => {
  const kv = (key: string, value: string, modRevision: number): KeyValue => ({
    key: bytes(key),
    value: bytes(value),
    createRevision: 2,
    modRevision,
    version: modRevision - 1,
    lease: 0,
  });
  const response: TxnResponse = {
    succeeded: true,
    revision: 9,
    responses: [
      { type: 'put', response: { revision: 9 } },
      {
        type: 'range',
        response: { revision: 9, kvs: [kv('a', '1', 9), kv('b', '2', 4)], more: false, count: 2 },
      },
      { type: 'deleteRange', response: { revision: 9, deleted: 3, prevKvs: [] } },
      { type: 'put', response: { revision: 9, prevKv: kv('c', 'old', 5) } },
      { type: 'range', response: { revision: 9, kvs: [], more: false, count: 0 } },
    ],
  };

  it("prints etcdctl's layout: SUCCESS or FAILURE, then each response after an empty line", () => {
    assert.equal(txnResponseText(response), 'SUCCESS\n\nOK\n\na\n1\nb\n2\n\n3\n\nOK\nc\nold\n');
    assert.equal(txnResponseText({ succeeded: false, revision: 9, responses: [] }), 'FAILURE');
  });

  it('turns every key and value into UTF-8 text, keeping the shape of TxnResponse', () => {
    const line = (key: string, value: string, modRevision: number) => ({
      key,
      value,
      createRevision: 2,
      modRevision,
      version: modRevision - 1,
      lease: 0,
    });
    assert.deepEqual(JSON.parse(JSON.stringify(txnResponseLine(response))), {
      succeeded: true,
      revision: 9,
      responses: [
        { type: 'put', response: { revision: 9 } },
        {
          type: 'range',
          response: { revision: 9, kvs: [line('a', '1', 9), line('b', '2', 4)], more: false, count: 2 },
        },
        { type: 'deleteRange', response: { revision: 9, deleted: 3, prevKvs: [] } },
        { type: 'put', response: { revision: 9, prevKv: line('c', 'old', 5) } },
        { type: 'range', response: { revision: 9, kvs: [], more: false, count: 0 } },
      ],
    });
  });
});
