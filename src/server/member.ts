/**
 * Members as the server knows them: a numeric Raft id derived from the
 * member's name, and the addresses other members and clients reach it at,
 * carried in the context of the membership change that added it.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../base/errors.ts';
import { decode, encode } from '../codec/msgpack.ts';
import type { NodeId } from '../raft/types.ts';

/** Where a member listens. */
export interface MemberInfo {
  readonly name: string;
  /** `host:port` of its peer (Raft) listener. */
  readonly peer: string;
  /** `host:port` of its client RPC listener. */
  readonly client: string;
  /** `host:port` of its HTTP listener (status, health, metrics). */
  readonly http: string;
  /** `host:port` of its etcd v3 gRPC listener (`--listen-etcd`), when it serves one. */
  readonly etcd?: string;
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * Checks a member name: 1-63 letters, digits, `.`, `_` or `-`, starting
 * with a letter or digit.
 *
 * @throws {InvalidArgumentError} otherwise.
 */
export function checkMemberName(name: string): string {
  if (!NAME_PATTERN.test(name)) {
    throw new InvalidArgumentError(
      `Bad member name ${JSON.stringify(name)}: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return name;
}

/**
 * The Raft id of the member named `name`: the first 48 bits of its
 * SHA-256, so every member computes the same id for a name without
 * coordination (etcd derives its member ids the same way), and ids stay
 * exact as JavaScript numbers.
 */
export function memberIdOf(name: string): NodeId {
  const digest = createHash('sha256').update(checkMemberName(name)).digest();
  const id = digest.readUIntBE(0, 6);
  return id === 0 ? 1 : id;
}

/** Encodes a member's addresses as a membership change's context. */
export function encodeMemberInfo(info: MemberInfo): Uint8Array {
  return encode({
    name: info.name,
    peer: info.peer,
    client: info.client,
    http: info.http,
    ...(info.etcd === undefined ? {} : { etcd: info.etcd }),
  });
}

/** Decodes a context written by {@link encodeMemberInfo}; undefined when empty or not one. */
export function decodeMemberInfo(context: Uint8Array): MemberInfo | undefined {
  return context.length === 0 ? undefined : memberInfoFrom(decode(context));
}

/** A decoded value as a {@link MemberInfo}, or undefined when it is not one. */
export function memberInfoFrom(decoded: unknown): MemberInfo | undefined {
  const value = decoded as Partial<MemberInfo> | null;
  if (
    value === null ||
    typeof value !== 'object' ||
    typeof value.name !== 'string' ||
    typeof value.peer !== 'string' ||
    typeof value.client !== 'string' ||
    typeof value.http !== 'string' ||
    (value.etcd !== undefined && typeof value.etcd !== 'string')
  ) {
    return undefined;
  }
  const info = { name: value.name, peer: value.peer, client: value.client, http: value.http };
  return value.etcd === undefined ? info : { ...info, etcd: value.etcd };
}
