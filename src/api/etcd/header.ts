/**
 * The `ResponseHeader` every etcd response carries: the cluster's id, the
 * answering member's id, the store's revision and the Raft term.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { memberIdOf } from '../../server/member.ts';
import type { TesseraNode } from '../../server/node.ts';
import { uint64BitsOf, type WireResponseHeader } from './proto.ts';

/**
 * The cluster id etcd clients are shown, as a decimal uint64.
 *
 * Tessera records no cluster id, so this derives one the way etcd derives
 * its own: from the founding members' ids, sorted (etcd hashes them with
 * SHA-1 and its `--initial-cluster-token`; here SHA-256, first 8 bytes).
 * Every founding member computes the same id, and it never changes with
 * later membership changes. A member that joined later
 * (`--initial-cluster-state existing`) computes it from the
 * `--initial-cluster` it was given, so its headers agree only when it is
 * given the founders' list; recording the id in the replicated state would
 * lift that.
 *
 * @throws {InvalidArgumentError} when a name is not a valid member name.
 * @example
 * ```ts
 * clusterIdOf(['n1', 'n2', 'n3']) === clusterIdOf(['n3', 'n1', 'n2']); // true
 * ```
 */
export function clusterIdOf(founders: Iterable<string>): string {
  const ids = [...founders].map(memberIdOf).sort((a, b) => a - b);
  const hash = createHash('sha256');
  for (const id of ids) {
    const bytes = Buffer.alloc(8);
    bytes.writeBigUInt64BE(BigInt(id));
    hash.update(bytes);
  }
  return hash.digest().readBigUInt64BE(0).toString();
}

/**
 * Makes the headers of one member's responses: `revision` is the store
 * revision the response carries (a write's own, a read's current one);
 * without it, the member's applied revision now. The term is the member's
 * current term (etcd's is the term the request was applied in; the two
 * differ only across an election).
 */
export type HeaderMaker = (revision?: number) => WireResponseHeader;

/**
 * The {@link HeaderMaker} of `node`.
 *
 * @example
 * ```ts
 * const header = responseHeaders(node);
 * callback(null, { header: header(response.revision), kvs });
 * ```
 */
export function responseHeaders(node: TesseraNode): HeaderMaker {
  const clusterId = uint64BitsOf(clusterIdOf(node.initialCluster.keys()));
  const memberId = node.id;
  return (revision) => ({
    cluster_id: clusterId,
    member_id: memberId,
    revision: revision ?? node.revision,
    raft_term: node.term,
  });
}
