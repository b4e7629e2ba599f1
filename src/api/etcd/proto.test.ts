import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { etcdPackageDefinition, etcdService, int64Field, uint64BitsOf } from './proto.ts';

/** The copy of etcd's `rpc.proto` the `etcd3` client ships (etcd 3.4 with 3.5's Downgrade), as a reference. */
function etcd3ClientDefinition(): PackageDefinition {
  const etcd3 = dirname(createRequire(import.meta.url).resolve('etcd3/package.json'));
  return loadSync(join(etcd3, 'proto', 'rpc.proto'), { keepCase: true });
}

interface Described {
  readonly kind: 'message' | 'enum' | 'service';
  /** One line per field, enum value or method: what the wire depends on. */
  readonly lines: readonly string[];
}

interface MethodDescriptor {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestType: { type: { name: string } };
  responseType: { type: { name: string } };
}

interface FieldDescriptor {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName: string;
}

/** Each definition as what must match on the wire: numbers, names, types, labels, streaming. */
function describeDefinitions(definition: PackageDefinition): Map<string, Described> {
  const described = new Map<string, Described>();
  for (const [name, entry] of Object.entries(definition)) {
    const format = (entry as { format?: unknown }).format;
    if (typeof format !== 'string') {
      const methods = Object.values(entry as Record<string, MethodDescriptor>);
      const lines = methods.map(
        (method) =>
          `${method.path} ${method.requestStream ? 'stream ' : ''}${method.requestType.type.name}` +
          ` -> ${method.responseStream ? 'stream ' : ''}${method.responseType.type.name}`,
      );
      described.set(name, { kind: 'service', lines: lines.sort() });
    } else if (format.includes('EnumDescriptorProto')) {
      const values = (entry as { type: { value: { name: string; number: number }[] } }).type.value;
      // Enum value names are not on the wire (the etcd3 copy renames them: NOT_EQUAL is NotEqual); numbers are.
      const lines = values.map((value) => `${value.number} ${value.name.replaceAll('_', '').toLowerCase()}`);
      described.set(name, { kind: 'enum', lines: lines.sort() });
    } else {
      const type = (entry as { type: { field: FieldDescriptor[]; oneofDecl: { name: string }[] } }).type;
      const lines = type.field.map((f) => `${f.number} ${f.name} ${f.label} ${f.type} ${f.typeName}`);
      lines.push(...type.oneofDecl.map((oneof) => `oneof ${oneof.name}`));
      described.set(name, { kind: 'message', lines: lines.sort() });
    }
  }
  return described;
}

/** Fields etcd 3.5 added that the etcd3 client's 3.4 copy lacks. */
const ADDED_IN_3_5 = new Map([
  ['etcdserverpb.AuthUserAddRequest', ['4 hashedPassword LABEL_OPTIONAL TYPE_STRING ']],
  ['etcdserverpb.AuthUserChangePasswordRequest', ['3 hashedPassword LABEL_OPTIONAL TYPE_STRING ']],
]);

describe('etcd protocol definitions (proto/)', () => {
  it('match the etcd3 client copy of rpc.proto, definition by definition, on the wire', () => {
    const ours = describeDefinitions(etcdPackageDefinition());
    const reference = describeDefinitions(etcd3ClientDefinition());
    assert.ok(reference.size > 100, `the reference holds ${reference.size} definitions`);
    for (const [name, expected] of reference) {
      const actual = ours.get(name);
      assert.ok(actual !== undefined, `${name} is missing`);
      assert.equal(actual.kind, expected.kind, name);
      const added = ADDED_IN_3_5.get(name) ?? [];
      assert.deepEqual(
        actual.lines.filter((line) => !added.includes(line)),
        expected.lines,
        name,
      );
    }
    const onlyOurs = [...ours.keys()].filter((name) => !reference.has(name));
    assert.ok(
      onlyOurs.every((name) => name.startsWith('v3lockpb.') || name.startsWith('v3electionpb.')),
      `definitions not in the reference: ${onlyOurs.join(', ')}`,
    );
  });

  it('declare every service of etcd with its gRPC paths, Lock and Election included', () => {
    const paths = (name: Parameters<typeof etcdService>[0]) =>
      Object.values(etcdService(name)).map((method) => method.path);
    assert.deepEqual(paths('v3lockpb.Lock'), ['/v3lockpb.Lock/Lock', '/v3lockpb.Lock/Unlock']);
    assert.deepEqual(paths('v3electionpb.Election'), [
      '/v3electionpb.Election/Campaign',
      '/v3electionpb.Election/Proclaim',
      '/v3electionpb.Election/Leader',
      '/v3electionpb.Election/Observe',
      '/v3electionpb.Election/Resign',
    ]);
    assert.equal(etcdService('v3electionpb.Election')['Observe']?.responseStream, true);
    for (const name of ['Watch', 'Cluster', 'Maintenance', 'Auth'] as const) {
      assert.ok(paths(`etcdserverpb.${name}`).length > 0, name);
    }
  });
});

describe('int64Field', () => {
  it('takes decimal strings and numbers exactly up to Number.MAX_SAFE_INTEGER', () => {
    assert.equal(int64Field('9007199254740991', 'ID'), Number.MAX_SAFE_INTEGER);
    assert.equal(int64Field('-42', 'revision'), -42);
    assert.equal(int64Field(17, 'limit'), 17);
    assert.equal(int64Field('', 'limit'), 0);
    assert.equal(int64Field(undefined, 'limit'), 0);
    // Up to 15 digits without BigInt, longer ones through it: exact either way.
    assert.equal(int64Field('999999999999999', 'ID'), 999_999_999_999_999);
    assert.equal(int64Field('-999999999999999', 'ID'), -999_999_999_999_999);
    assert.equal(int64Field('0000000000000001', 'ID'), 1);
    assert.ok(Object.is(int64Field('-0', 'revision'), 0));
  });

  it('refuses what would round or is no integer, naming the field', () => {
    for (const value of [
      '9007199254740992',
      '9223372036854775807',
      '-9007199254740992',
      '1e3',
      'x',
      2 ** 53,
    ]) {
      assert.throws(
        () => int64Field(value, 'ID'),
        (error: Error & { code?: string }) => error.code === 'INVALID_ARGUMENT' && /^ID /.test(error.message),
        String(value),
      );
    }
  });
});

describe('uint64BitsOf', () => {
  it('splits a decimal uint64 into the halves the encoder writes, and the wire gives the number back', () => {
    assert.deepEqual(uint64BitsOf('4294967297'), { low: 1, high: 1, unsigned: true });
    const range = etcdService('etcdserverpb.KV')['Range'];
    assert.ok(range !== undefined);
    for (const decimal of [
      '0',
      '1',
      '4294967295',
      '4294967296',
      '9007199254740993',
      '18446744073709551615',
    ]) {
      const header = { cluster_id: uint64BitsOf(decimal), member_id: 7, revision: 3, raft_term: 2 };
      const decoded = range.responseDeserialize(range.responseSerialize({ header })) as {
        header: { cluster_id: string };
      };
      assert.equal(decoded.header.cluster_id, decimal);
    }
  });

  it('refuses what is not a decimal uint64', () => {
    for (const bad of ['-1', '18446744073709551616', '0x10', '', '1.5']) {
      assert.throws(() => uint64BitsOf(bad), RangeError, bad);
    }
  });
});
