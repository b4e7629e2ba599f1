/**
 * etcd's v3 protocol definitions (`proto/`, written from etcd 3.5's
 * published API), loaded once with `@grpc/proto-loader`, and the shapes of
 * the messages the adapters read and write.
 *
 * Decoding options, which every adapter relies on:
 * - `keepCase`: field names as on the wire (`range_end`, `TTL`);
 * - `longs: String`: every int64/uint64 arrives as a decimal string, so a
 *   lease id up to 2^63 arrives exact and {@link int64Field} decides what
 *   Tessera accepts (responses may carry numbers or decimal strings);
 * - `enums: String`: enum values as their names (`ASCEND`, `NOT_EQUAL`);
 * - `defaults` and `oneofs`: absent scalars read as proto3's zero values
 *   (as etcd's Go getters do), and each `oneof` names its set field.
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options, type PackageDefinition } from '@grpc/proto-loader';
import { InvalidArgumentError } from '../../base/errors.ts';

/** The folder holding the `.proto` files. */
export const PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url));

/** The files to load; their imports (`kv.proto`, `auth.proto`) resolve inside {@link PROTO_DIR}. */
export const PROTO_FILES: readonly string[] = ['rpc.proto', 'v3lock.proto', 'v3election.proto'];

/** How messages decode (see the module comment). */
export const PROTO_LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

/** The services etcd clients call, by their full gRPC name. */
export type EtcdServiceName =
  | 'etcdserverpb.KV'
  | 'etcdserverpb.Watch'
  | 'etcdserverpb.Lease'
  | 'etcdserverpb.Cluster'
  | 'etcdserverpb.Maintenance'
  | 'etcdserverpb.Auth'
  | 'v3lockpb.Lock'
  | 'v3electionpb.Election';

let loaded: PackageDefinition | undefined;

/** The package definition of every etcd service and message, loaded on first use. */
export function etcdPackageDefinition(): PackageDefinition {
  loaded ??= loadSync([...PROTO_FILES], PROTO_LOADER_OPTIONS);
  return loaded;
}

/**
 * The gRPC definition of one etcd service, for `Server.addService`.
 *
 * @example
 * ```ts
 * server.addService(etcdService('etcdserverpb.KV'), kvServiceHandlers(node, handlers));
 * ```
 */
export function etcdService(name: EtcdServiceName): ServiceDefinition {
  const definition = etcdPackageDefinition()[name];
  if (definition === undefined || 'format' in definition) {
    throw new Error(`Invariant: ${name} is not a service of the etcd protocol definitions`);
  }
  return definition as ServiceDefinition;
}

/** An int64 or uint64 as decoded (a decimal string) or as a response may carry it. */
export type Int64 = string | number;

/** Largest value {@link int64Field} accepts: Tessera's revisions and lease ids are safe integers. */
const INT64_MAX_ACCEPTED = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A decoded int64 field as a number. etcd's int64s reach 2^63, Tessera's
 * ids and revisions stay below 2^53: a value past that is refused rather
 * than rounded (a rounded lease id would name another lease).
 *
 * @throws {InvalidArgumentError} when it is not an integer, or its magnitude
 * passes `Number.MAX_SAFE_INTEGER`.
 */
export function int64Field(value: Int64 | undefined, field: string): number {
  if (value === undefined || value === '') return 0;
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) return value;
  } else if (/^-?\d+$/.test(value)) {
    // Up to 15 digits is below 2^53, so exact as a number: no BigInt (a range request has six int64
    // fields, mostly '0'). `+ 0` makes '-0' a plain 0.
    if (value.length <= (value.charCodeAt(0) === 45 ? 16 : 15)) return Number(value) + 0;
    const exact = BigInt(value);
    if (exact <= INT64_MAX_ACCEPTED && exact >= -INT64_MAX_ACCEPTED) return Number(exact);
  }
  throw new InvalidArgumentError(
    `${field} ${value} is out of range: Tessera takes integers up to ${Number.MAX_SAFE_INTEGER}`,
  );
}

/** The bytes of a decoded `bytes` field (a `Buffer`), or of a value meant for one. */
export type Bytes = Uint8Array;

/** `mvccpb.KeyValue`. */
export interface WireKeyValue {
  readonly key: Bytes;
  readonly create_revision: Int64;
  readonly mod_revision: Int64;
  readonly version: Int64;
  readonly value: Bytes;
  readonly lease: Int64;
}

/**
 * A uint64 as the two 32-bit halves protobufjs encodes (as a `Long`
 * would give them): a value sent in every response is split once instead
 * of parsed from its decimal string each time (1.5% of a member's CPU
 * serving reads).
 */
export interface Uint64Bits {
  readonly low: number;
  readonly high: number;
  readonly unsigned: true;
}

/**
 * The {@link Uint64Bits} of a decimal uint64.
 *
 * @throws {RangeError} when `decimal` is not one.
 * @example
 * ```ts
 * uint64BitsOf('4294967297'); // { low: 1, high: 1, unsigned: true }
 * ```
 */
export function uint64BitsOf(decimal: string): Uint64Bits {
  const value = /^\d+$/.test(decimal) ? BigInt(decimal) : -1n;
  if (value < 0n || value >= 2n ** 64n) throw new RangeError(`${decimal} is not a decimal uint64`);
  return { low: Number(value & 0xffff_ffffn) | 0, high: Number(value >> 32n) | 0, unsigned: true };
}

/** `etcdserverpb.ResponseHeader`. */
export interface WireResponseHeader {
  readonly cluster_id: Int64 | Uint64Bits;
  readonly member_id: Int64;
  readonly revision: Int64;
  readonly raft_term: Int64;
}
