/**
 * Every way etcdctl's output against Tessera differs from its output
 * against etcd 3.4.23, one entry per step of the script, each saying what
 * differs and why. A step that differs and is not here fails the test; an
 * entry whose step no longer differs fails it too, so this table stays the
 * true list. (A Tessera defect found this way is fixed, not listed.) Not
 * part of the build
 * (`*.suite.ts`).
 *
 * @module
 */

/** One explained difference. */
export interface KnownDifference {
  /** The step's name in the script. */
  readonly step: string;
  /** What differs, as a reader of the two outputs sees it. */
  readonly what: string;
  /** Why: the documented deviation (README "etcd compatibility") or the defect. */
  readonly why: string;
}

/** The table. */
export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  {
    step: 'member list -w json',
    what: 'the header carries "revision", which etcd 3.4 leaves out',
    why: 'etcd 3.5’s ClusterServer fills it (header() sets Revision), 3.4’s did not; Tessera follows 3.5’s protocol.',
  },
  {
    step: 'endpoint status',
    what: 'VERSION: 3.5.0+tessera where etcd says 3.4.23',
    why: 'README "etcd compatibility": Status answers version 3.5.0+tessera (Tessera speaks etcd 3.5’s protocol). Sizes, leader, term and indexes are normalized: they differ between any two clusters.',
  },
  {
    step: 'endpoint status -w json',
    what: '"version":"3.5.0+tessera" where etcd says "3.4.23"',
    why: 'README "etcd compatibility": Status answers version 3.5.0+tessera.',
  },
  {
    step: 'endpoint status --cluster',
    what: 'Tessera fails ("stream terminated by RST_STREAM with error code: PROTOCOL_ERROR"); etcd prints every member',
    why: 'etcdctl 3.4’s --cluster dials each member’s client URL and sends it whole ("http://127.0.0.1:P") as the HTTP/2 :authority; Go’s gRPC server takes it, Node’s HTTP/2 server (nghttp2, under grpc-js) resets the stream as malformed (checked with a raw node:http2 request against both).',
  },
  {
    step: 'alarm list -w json',
    what: 'Tessera answers a header ({"header":{…}}); etcd 3.4 answers {}',
    why: 'etcd 3.4’s maintenance Alarm returns the applier’s response without a header; etcd 3.5 fills it (maintenanceServer.Alarm: hdr.fill). Tessera follows 3.5.',
  },
  {
    step: 'snapshot save',
    what: 'the snapshot’s size ("size":"1.1 kB" against etcd’s "25 kB")',
    why: 'README "etcd compatibility": snapshot save stores Tessera’s state image (zero-padded to 512-byte blocks, then its SHA-256), not a bbolt file.',
  },
  {
    step: 'snapshot status',
    what: 'Tessera’s snapshot file: "Error: invalid database"; etcd’s: its hash, revision, keys and size',
    why: 'README "etcd compatibility": etcdctl snapshot status and snapshot restore cannot read Tessera’s snapshot: it is not a bbolt file.',
  },
];
