/**
 * The second part of the etcdctl script: members (a learner added with a
 * peer address nobody serves, refused promotion, removed), endpoints
 * (health, status, hashkv), `lock` and `elect`, maintenance (alarms,
 * defragment, snapshot) and compaction. It starts at revision 19, where
 * the first part (`etcdctl-script-kv.suite.ts`) ends. Not part of the build
 * (`*.suite.ts`).
 *
 * @module
 */
import { failed, header, printed, refused } from './etcdctl-expect.suite.ts';
import {
  escaped,
  type Rewrite,
  sortedArrayAfter,
  sortedInitialCluster,
  sortedLines,
} from './etcdctl-normalize.suite.ts';
import type { Step } from './etcdctl-steps.suite.ts';

/** etcd takes member changes once its leader has been connected to every member this long (5 s) and a margin. */
const ETCD_RECONFIGURE_AFTER_MS = 6_000;

/** The lock the script takes. */
export const LOCK_NAME = 'mylock';
/** The election the script campaigns in. */
export const ELECTION_NAME = 'myelection';

/** etcd lists members in the order of their ids; returns what breaks that order, if anything. */
function membersInIdOrder(transcript: string): string | undefined {
  const ids = [...transcript.matchAll(/^([0-9a-f]+), (?:started|unstarted), /gm)].map((m) => m[1] as string);
  for (let i = 1; i < ids.length; i++) {
    if (BigInt(`0x${ids[i - 1]}`) > BigInt(`0x${ids[i]}`))
      return `members not in id order: ${ids.join(', ')}`;
  }
  return undefined;
}

/** `endpoint status` (simple) shows exactly one leader. */
function oneLeader(transcript: string): string | undefined {
  const leaders = [...transcript.matchAll(/^[^,]+, [0-9a-f]+, [^,]+, [^,]+, true, /gm)].length;
  return leaders === 1 ? undefined : `${leaders} members say they lead`;
}

/** A member line of `member list`, as Tessera prints it (its own etcd address only). */
const TESSERA_MEMBER_LINE =
  '<id:n(\\d)>, started, n\\1, http://<peer:n\\1>, (?:http://<client:n\\1>)?, false\\n';

/** The member steps. */
const MEMBER_STEPS: readonly Step[] = [
  {
    name: 'member list',
    args: ['member', 'list'],
    compareAs: [sortedLines],
    invariant: membersInIdOrder,
    expected: new RegExp(`^(?:${TESSERA_MEMBER_LINE}){3}--- exit 0\\n$`),
  },
  {
    name: 'member list -w json',
    args: ['member', 'list', '-w', 'json'],
    compareAs: [sortedArrayAfter('"members":[')],
    expected:
      /^\{"header":\{"cluster_id":<cluster-id>,"member_id":<answering>,"revision":19,"raft_term":<term>\},"members":\[(?:\{"ID":<id:n(\d)>,"name":"n\1","peerURLs":\["http:\/\/<peer:n\1>"\](?:,"clientURLs":\["http:\/\/<client:n\1>"\])?\},?){3}\]\}\n--- exit 0\n$/,
  },
  {
    name: 'member add --learner',
    args: ['member', 'add', 'newbie', '--learner', '--peer-urls={fakePeer}'],
    upForMs: ETCD_RECONFIGURE_AFTER_MS,
    capture: { learner: /Member +([0-9a-f]+) added/ },
    compareAs: [sortedInitialCluster],
    // The members in id order, as etcd lists them: Tessera's ids come from the names (n2 < n1 < n3), and
    // the learner's peer address was picked for an id below them all (`learnerPeerUrl`).
    expected: printed(
      'Member <learner> added to cluster <cluster-id>\n\nETCD_NAME="newbie"\n' +
        'ETCD_INITIAL_CLUSTER="newbie=<fakePeer>,n2=http://<peer:n2>,n1=http://<peer:n1>,n3=http://<peer:n3>"\n' +
        'ETCD_INITIAL_ADVERTISE_PEER_URLS="<fakePeer>"\nETCD_INITIAL_CLUSTER_STATE="existing"\n',
    ),
  },
  {
    name: 'member list (with the learner)',
    args: ['member', 'list'],
    compareAs: [sortedLines],
    invariant: membersInIdOrder,
    expected: new RegExp(
      `^(?:${TESSERA_MEMBER_LINE}|<learner>, unstarted, , <fakePeer>, , true\\n){4}--- exit 0\\n$`,
    ),
  },
  {
    name: 'member promote (a learner never started)',
    args: ['member', 'promote', '{learner}'],
    expected: refused(
      'FailedPrecondition',
      'etcdserver: can only promote a learner member which is in sync with leader',
    ),
  },
  {
    name: 'member promote (a voter)',
    args: ['member', 'promote', '{id:n1}'],
    expected: refused('FailedPrecondition', 'etcdserver: can only promote a learner member'),
  },
  {
    name: 'member remove',
    args: ['member', 'remove', '{learner}'],
    expected: printed('Member <learner> removed from cluster <cluster-id>\n'),
  },
  {
    name: 'member remove (not a member)',
    args: ['member', 'remove', '{learner}'],
    expected: refused('NotFound', 'etcdserver: member not found'),
  },
];

/**
 * `endpoint hashkv -w json` on Tessera: every member at `revision` with the
 * same hash (a SHA-256-based digest, README) and etcd's `compact_revision`.
 */
function hashKvJson(revision: number, compactRevision: number): RegExp {
  const entry = (n: number) =>
    `\\{"Endpoint":"<client:n${n}>","HashKV":\\{"header":${escaped(header(revision))},"hash":${n === 1 ? '(\\d+)' : '\\1'},"compact_revision":${compactRevision}\\}\\}`;
  return new RegExp(`^\\[${[1, 2, 3].map(entry).join(',')}\\]\\n--- exit 0\\n$`);
}

/** `endpoint status` without what differs between any two clusters: size, leader, term and indexes. */
const STATUS_LINE_FIELDS: Rewrite = [
  /^((?:http:\/\/)?<client:n\d>, <id:n\d>, [^,]+), [\d.]+ [kMG]?B, (?:true|false), (true|false), \d+, \d+, \d+, /gm,
  '$1, <db-size>, <is-leader>, $2, <term>, <raft-index>, <raft-applied-index>, ',
];
/** The same in `endpoint status -w json`. */
const STATUS_JSON_FIELDS: readonly Rewrite[] = [
  [/"(dbSize|dbSizeInUse|raftIndex|raftTerm|raftAppliedIndex)":\d+/g, '"$1":<$1>'],
  [/"leader":<id:n\d>/g, '"leader":<leader>'],
];

/** The endpoint steps (revision 19). */
const ENDPOINT_STEPS: readonly Step[] = [
  {
    name: 'endpoint health',
    args: ['endpoint', 'health'],
    compareAs: [sortedLines],
    // etcdctl writes the health lines to stderr.
    expected:
      /^--- stderr\n(?:<client:n\d> is healthy: successfully committed proposal: took = <duration>\n){3}--- exit 0\n$/,
  },
  {
    name: 'endpoint health -w json',
    args: ['endpoint', 'health', '-w', 'json'],
    compareAs: [sortedArrayAfter('[')],
    expected: /^\[(?:\{"endpoint":"<client:n\d>","health":true,"took":"<duration>"\},?){3}\]\n--- exit 0\n$/,
  },
  {
    name: 'endpoint status',
    args: ['endpoint', 'status'],
    compareAs: [STATUS_LINE_FIELDS],
    invariant: oneLeader,
    expected:
      /^(?:<client:n(\d)>, <id:n\1>, 3\.5\.0\+tessera, [\d.]+ kB, (?:true|false), false, \d+, \d+, \d+, \n){3}--- exit 0\n$/,
  },
  {
    name: 'endpoint status -w json',
    args: ['endpoint', 'status', '-w', 'json'],
    compareAs: STATUS_JSON_FIELDS,
    expected:
      /^\[(?:\{"Endpoint":"<client:n(\d)>","Status":\{"header":\{"cluster_id":<cluster-id>,"member_id":<answering>,"revision":19,"raft_term":<term>\},"version":"3\.5\.0\+tessera","dbSize":\d+,"leader":<id:n\d>,"raftIndex":\d+,"raftTerm":\d+,"raftAppliedIndex":\d+,"dbSizeInUse":\d+\}\},?){3}\]\n--- exit 0\n$/,
  },
  {
    name: 'endpoint status --cluster',
    args: ['endpoint', 'status', '--cluster'],
    compareAs: [STATUS_LINE_FIELDS, sortedLines],
    // Tessera lists every member's client URL, and refuses each URL as an HTTP/2 authority.
    expected: new RegExp(
      '^--- stderr\\n(?:' +
        '\\{"level":"warn","caller":"clientv3/retry_interceptor\\.go:62","msg":"retrying of unary invoker failed",' +
        '"target":"passthrough:///http://<client:n\\d>","attempt":0,"error":"rpc error: code = Internal desc = ' +
        'stream terminated by RST_STREAM with error code: PROTOCOL_ERROR"\\}\\n' +
        'Failed to get the status of endpoint http://<client:n\\d> \\(rpc error: code = Internal desc = ' +
        'stream terminated by RST_STREAM with error code: PROTOCOL_ERROR\\)\\n){3}--- exit 1\\n$',
    ),
  },
  {
    name: 'endpoint hashkv',
    args: ['endpoint', 'hashkv'],
    compareAs: [[/^(<client:n\d>), \d+$/gm, '$1, <hash>']],
    // Every member has the same hash: the same history.
    expected: /^<client:n1>, (\d+)\n<client:n2>, \1\n<client:n3>, \1\n--- exit 0\n$/,
  },
  {
    name: 'endpoint hashkv -w json',
    args: ['endpoint', 'hashkv', '-w', 'json'],
    compareAs: [[/"hash":\d+/g, '"hash":<hash>']],
    expected: hashKvJson(19, -1),
  },
];

/** The lock and election steps: revisions 20 to 27 (each holder's key put, then deleted). */
const RECIPE_STEPS: readonly Step[] = [
  { name: 'lock NAME -- CMD', args: ['lock', LOCK_NAME, '--', 'echo', 'held'], expected: printed('held\n') },
  {
    name: 'lock NAME -- CMD (ETCD_LOCK_KEY; the command fails)',
    args: ['lock', LOCK_NAME, '--', 'sh', '-c', 'echo "$ETCD_LOCK_KEY"; exit 3'],
    expected: `${LOCK_NAME}/<lease>\n${failed('Error: exit status 3\n')}`,
  },
  {
    name: 'lock NAME (held while a writer looks)',
    args: ['lock', LOCK_NAME],
    concurrent: {
      readyWhen: /^mylock\/[0-9a-f]+\n\n/m,
      writer: [{ args: ['get', LOCK_NAME, '--prefix', '--keys-only'] }],
      doneWhen: /^mylock\/[0-9a-f]+\n\n/m,
      stop: 'SIGINT',
    },
    // Holding the lock, etcdctl prints its key and an empty line (the key's value).
    expected: `${LOCK_NAME}/<lease>\n\n--- exit 0\n--- writer: etcdctl get ${LOCK_NAME} --prefix --keys-only\n${printed(`${LOCK_NAME}/<lease>\n\n`)}`,
  },
  { name: 'get (the lock was released)', args: ['get', LOCK_NAME, '--prefix'], expected: printed('') },
  {
    name: 'elect NAME PROPOSAL (observed with elect -l)',
    args: ['elect', ELECTION_NAME, 'p1'],
    concurrent: {
      readyWhen: /p1\n/,
      writer: [
        { args: ['elect', '-l', ELECTION_NAME], until: /p1\n/ },
        { args: ['get', ELECTION_NAME, '--prefix'] },
      ],
      doneWhen: /p1\n/,
      stop: 'SIGINT',
    },
    expected:
      `${ELECTION_NAME}/<lease>\np1\n--- exit 0\n` +
      `--- writer: etcdctl elect -l ${ELECTION_NAME}\n${ELECTION_NAME}/<lease>\np1\n--- exit 0\n` +
      `--- writer: etcdctl get ${ELECTION_NAME} --prefix\n${printed(`${ELECTION_NAME}/<lease>\np1\n`)}`,
  },
  { name: 'get (the candidate resigned)', args: ['get', ELECTION_NAME, '--prefix'], expected: printed('') },
];

/** The maintenance steps (revision 27). */
const MAINTENANCE_STEPS: readonly Step[] = [
  { name: 'alarm list', args: ['alarm', 'list'], expected: printed('') },
  {
    name: 'alarm list -w json',
    args: ['alarm', 'list', '-w', 'json'],
    expected: printed(`{"header":${header(27)}}\n`),
  },
  {
    name: 'defrag',
    args: ['defrag'],
    expected: printed([1, 2, 3].map((n) => `Finished defragmenting etcd member[<client:n${n}>]\n`).join('')),
  },
  {
    name: 'snapshot save',
    args: ['snapshot', 'save', '{scratch}/snapshot.db'],
    endpoints: 'first',
    expected:
      /^Snapshot saved at <scratch>\/snapshot\.db\n--- stderr\n(?:.*\n)*\{"level":"info","caller":"snapshot\/v3_snapshot\.go:142","msg":"fetched snapshot","endpoint":"<client:n1>","size":"[\d.]+ kB","took":"<duration>"\}\n.*"msg":"saved".*\n--- exit 0\n$/,
  },
  {
    name: 'snapshot status',
    args: ['snapshot', 'status', '{scratch}/snapshot.db', '-w', 'json'],
    expected: failed('Error: invalid database\n'),
  },
];

/** The compaction steps: revisions 28 to 30, compacted at 29, then physically at 30. */
const COMPACTION_STEPS: readonly Step[] = [
  { name: 'put c/k (old)', args: ['put', 'c/k', 'old'], expected: printed('OK\n') },
  { name: 'put c/k (new)', args: ['put', 'c/k', 'new'], expected: printed('OK\n') },
  { name: 'compaction', args: ['compaction', '29'], expected: printed('compacted revision 29\n') },
  {
    name: 'get --rev (compacted)',
    args: ['get', 'c/k', '--rev=28'],
    expected: refused('OutOfRange', 'etcdserver: mvcc: required revision has been compacted'),
  },
  {
    name: 'get --rev (the compaction revision)',
    args: ['get', 'c/k', '--rev=29'],
    expected: printed('c/k\nnew\n'),
  },
  {
    name: 'compaction (compacted already)',
    args: ['compaction', '29'],
    expected: refused('OutOfRange', 'etcdserver: mvcc: required revision has been compacted'),
  },
  {
    name: 'compaction (a future revision)',
    args: ['compaction', '100'],
    expected: refused('OutOfRange', 'etcdserver: mvcc: required revision is a future revision'),
  },
  {
    name: 'watch --rev (compacted)',
    args: ['watch', 'c/k', '--rev=28'],
    expected: failed(
      'watch was canceled (etcdserver: mvcc: required revision has been compacted)\n' +
        'Error: watch is canceled by the server\n',
      5,
    ),
  },
  {
    name: 'watch --rev (compacted) -w json',
    args: ['watch', 'c/k', '--rev=28', '-w', 'json'],
    expected:
      '{"Header":{"cluster_id":<cluster-id>,"member_id":<answering>,"raft_term":<term>},' +
      '"Events":[],"CompactRevision":29,"Canceled":true,"Created":false}\n' +
      failed(
        'watch was canceled (etcdserver: mvcc: required revision has been compacted)\n' +
          'Error: watch is canceled by the server\n',
        5,
      ),
  },
  {
    name: 'endpoint hashkv -w json (compacted)',
    args: ['endpoint', 'hashkv', '-w', 'json'],
    compareAs: [[/"hash":\d+/g, '"hash":<hash>']],
    expected: hashKvJson(29, 29),
  },
  { name: 'put c/k (newer)', args: ['put', 'c/k', 'newer'], expected: printed('OK\n') },
  {
    name: 'compaction --physical',
    args: ['compaction', '--physical', '30'],
    expected: printed('compacted revision 30\n'),
  },
  { name: 'get (after the compactions)', args: ['get', 'c/k'], expected: printed('c/k\nnewer\n') },
];

/** Members, endpoints, lock and election, maintenance and compaction, in order. */
export const CLUSTER_SCRIPT: readonly Step[] = [
  ...MEMBER_STEPS,
  ...ENDPOINT_STEPS,
  ...RECIPE_STEPS,
  ...MAINTENANCE_STEPS,
  ...COMPACTION_STEPS,
];
