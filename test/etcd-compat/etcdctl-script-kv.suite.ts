/**
 * The first part of the etcdctl script: keys (`put`, `get` in its forms,
 * `del`), transactions from stdin, watches with a concurrent writer, and
 * leases. Both clusters start empty at revision 1 and run the same steps in
 * the same order, so the revisions in the expected outputs are the same on
 * both. Not part of the build (`*.suite.ts`).
 *
 * etcdctl 3.4 has no `get --count-only` (etcdctl 3.5's flag): the count is
 * checked where 3.4 prints it, `-w json` and `-w fields`.
 *
 * @module
 */
import { failed, header, kv, printed, refused } from './etcdctl-expect.suite.ts';
import type { Step } from './etcdctl-steps.suite.ts';

/** `etcdctl txn` in its non-interactive form: compares, blank line, success ops, blank line, failure ops. */
const CAS_TXN = 'value("txn/k") = "v"\n\nput txn/k v2\nget txn/k\n\nput txn/k other\n\n';

/** The KV steps: revisions 2 to 8. */
const KV_STEPS: readonly Step[] = [
  { name: 'put', args: ['put', 'greeting', 'hello'], expected: printed('OK\n') },
  {
    name: 'put --prev-kv',
    args: ['put', 'greeting', 'world', '--prev-kv'],
    expected: printed('OK\ngreeting\nhello\n'),
  },
  { name: 'get', args: ['get', 'greeting'], expected: printed('greeting\nworld\n') },
  {
    name: 'get -w json',
    args: ['get', 'greeting', '-w', 'json'],
    expected: printed(`{"header":${header(3)},"kvs":[${kv('greeting', 'world', 2, 3, 2)}],"count":1}\n`),
  },
  { name: 'put app/b', args: ['put', 'app/b', '2'], expected: printed('OK\n') },
  { name: 'put app/a', args: ['put', 'app/a', '1'], expected: printed('OK\n') },
  { name: 'put app/c', args: ['put', 'app/c', '3'], expected: printed('OK\n') },
  {
    name: 'get --prefix',
    args: ['get', 'app/', '--prefix'],
    expected: printed('app/a\n1\napp/b\n2\napp/c\n3\n'),
  },
  {
    name: 'get --prefix --keys-only',
    args: ['get', 'app/', '--prefix', '--keys-only'],
    expected: printed('app/a\n\napp/b\n\napp/c\n\n'),
  },
  {
    name: 'get --prefix --print-value-only',
    args: ['get', 'app/', '--prefix', '--print-value-only'],
    expected: printed('1\n2\n3\n'),
  },
  {
    name: 'get --limit',
    args: ['get', 'app/', '--prefix', '--limit=2'],
    expected: printed('app/a\n1\napp/b\n2\n'),
  },
  {
    name: 'get --sort-by=KEY --order=DESCEND',
    args: ['get', 'app/', '--prefix', '--sort-by=KEY', '--order=DESCEND'],
    expected: printed('app/c\n3\napp/b\n2\napp/a\n1\n'),
  },
  {
    name: 'get --sort-by=CREATE --order=DESCEND',
    args: ['get', 'app/', '--prefix', '--sort-by=CREATE', '--order=DESCEND'],
    expected: printed('app/c\n3\napp/a\n1\napp/b\n2\n'),
  },
  {
    name: 'get --sort-by=VALUE --limit -w json (more, count)',
    args: ['get', 'app/', '--prefix', '--sort-by=VALUE', '--order=DESCEND', '--limit=1', '-w', 'json'],
    expected: printed(`{"header":${header(6)},"kvs":[${kv('app/c', '3', 6, 6, 1)}],"more":true,"count":3}\n`),
  },
  {
    name: 'get --keys-only --limit -w fields (count)',
    args: ['get', 'app/', '--prefix', '--keys-only', '--limit=1', '-w', 'fields'],
    expected: printed(
      '"ClusterID" : <cluster-id>\n"MemberID" : <answering>\n"Revision" : 6\n"RaftTerm" : <term>\n' +
        '"Key" : "app/a"\n"CreateRevision" : 5\n"ModRevision" : 5\n"Version" : 1\n"Value" : ""\n"Lease" : 0\n' +
        '"More" : true\n"Count" : 3\n',
    ),
  },
  { name: 'get --rev (before the key)', args: ['get', 'app/a', '--rev=4'], expected: printed('') },
  {
    name: 'get --rev (an old value)',
    args: ['get', 'greeting', '--rev=2'],
    expected: printed('greeting\nhello\n'),
  },
  {
    name: 'get --rev (a future revision)',
    args: ['get', 'greeting', '--rev=100'],
    expected: refused('OutOfRange', 'etcdserver: mvcc: required revision is a future revision'),
  },
  { name: 'get KEY RANGE_END', args: ['get', 'app/a', 'app/c'], expected: printed('app/a\n1\napp/b\n2\n') },
  {
    name: 'get --from-key --keys-only',
    args: ['get', 'app/b', '--from-key', '--keys-only'],
    expected: printed('app/b\n\napp/c\n\ngreeting\n\n'),
  },
  {
    name: 'get --consistency=s',
    args: ['get', 'greeting', '--consistency=s'],
    expected: printed('greeting\nworld\n'),
  },
  { name: 'del', args: ['del', 'app/c'], expected: printed('1\n') },
  {
    name: 'del --prefix --prev-kv',
    args: ['del', 'app/', '--prefix', '--prev-kv'],
    expected: printed('2\napp/a\n1\napp/b\n2\n'),
  },
  { name: 'del (no such key)', args: ['del', 'missing'], expected: printed('0\n') },
  {
    name: 'get --prefix -w json (nothing left)',
    args: ['get', 'app/', '--prefix', '-w', 'json'],
    expected: printed(`{"header":${header(8)}}\n`),
  },
];

/** The transaction steps: revisions 9 to 13. */
const TXN_STEPS: readonly Step[] = [
  { name: 'put txn/k', args: ['put', 'txn/k', 'v'], expected: printed('OK\n') },
  {
    name: 'txn from stdin (success)',
    args: ['txn'],
    stdin: CAS_TXN,
    expected: printed('SUCCESS\n\nOK\n\ntxn/k\nv2\n'),
  },
  { name: 'txn from stdin (failure)', args: ['txn'], stdin: CAS_TXN, expected: printed('FAILURE\n\nOK\n') },
  {
    name: 'txn -w json',
    args: ['txn', '-w', 'json'],
    stdin: CAS_TXN,
    // etcd fills the transaction's own header; the responses inside it carry their revision only.
    expected: printed(
      `{"header":${header(12)},"responses":[{"Response":{"ResponsePut":{"header":{"revision":12}}}}]}\n`,
    ),
  },
  {
    name: 'txn --interactive',
    args: ['txn', '--interactive'],
    stdin: 'mod("txn/k") > "0"\nversion("nope") = "0"\n\nget txn/k --prefix\ndel txn/k\n\nput never x\n\n',
    expected: printed(
      'compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\nSUCCESS\n\ntxn/k\nother\n\n1\n',
    ),
  },
];

/** Ends the watch steps: the delete of w/a, with its previous value when asked. */
const WATCH_DONE = /DELETE\nw\/a\n/;

/** The watch steps: revisions 14 to 17. */
const WATCH_STEPS: readonly Step[] = [
  {
    name: 'watch -i --prefix --prev-kv with a concurrent writer',
    // The progress answer shows the watcher exists (the stream answers in order): the writer starts then.
    args: ['watch', '-i'],
    stdin: 'watch w/ --prefix --prev-kv\nprogress\n',
    concurrent: {
      readyWhen: /progress notify: \d+\n/,
      writer: [{ args: ['put', 'w/a', '1'] }, { args: ['put', 'w/a', '2'] }, { args: ['del', 'w/a'] }],
      doneWhen: /DELETE\nw\/a\n2\nw\/a\n\n/,
      stop: 'stdin',
    },
    expected:
      'progress notify: 13\nPUT\nw/a\n1\nPUT\nw/a\n1\nw/a\n2\nDELETE\nw/a\n2\nw/a\n\n' +
      '--- stderr\nError: Error reading watch request line: EOF\n--- exit 3\n' +
      '--- writer: etcdctl put w/a 1\nOK\n--- exit 0\n--- writer: etcdctl put w/a 2\nOK\n--- exit 0\n' +
      '--- writer: etcdctl del w/a\n1\n--- exit 0\n',
  },
  {
    name: 'watch --rev (history, then live) -w json',
    args: ['watch', 'w/', '--prefix', '--rev=14', '-w', 'json'],
    concurrent: {
      readyWhen: /"mod_revision":16/,
      writer: [{ args: ['put', 'w/b', '3'] }],
      doneWhen: /"mod_revision":17/,
      stop: 'SIGTERM',
    },
    expected:
      `{"Header":${header(16)},"Events":[{"kv":${kv('w/a', '1', 14, 14, 1)}},{"kv":${kv('w/a', '2', 14, 15, 2)}},` +
      `{"type":1,"kv":{"key":"dy9h","mod_revision":16}}],"CompactRevision":0,"Canceled":false,"Created":false}\n` +
      `{"Header":${header(17)},"Events":[{"kv":${kv('w/b', '3', 17, 17, 1)}}],"CompactRevision":0,"Canceled":false,"Created":false}\n` +
      '--- exit SIGTERM\n--- writer: etcdctl put w/b 3\nOK\n--- exit 0\n',
  },
  {
    name: 'watch KEY --rev (history of one key)',
    args: ['watch', 'w/a', '--rev=1'],
    concurrent: { readyWhen: WATCH_DONE, writer: [], doneWhen: WATCH_DONE, stop: 'SIGTERM' },
    expected: 'PUT\nw/a\n1\nPUT\nw/a\n2\nDELETE\nw/a\n\n--- exit SIGTERM\n',
  },
];

/** The lease steps: revisions 18 and 19 (the key put with the lease, deleted by its revoke; revoking a lease without keys writes nothing). */
const LEASE_STEPS: readonly Step[] = [
  {
    name: 'lease grant',
    args: ['lease', 'grant', '60'],
    capture: { lease: /^lease ([0-9a-f]{16}) granted/ },
    expected: printed('lease <lease> granted with TTL(60s)\n'),
  },
  { name: 'put --lease', args: ['put', 'leased/k', 'v', '--lease={lease}'], expected: printed('OK\n') },
  {
    name: 'lease timetolive --keys',
    args: ['lease', 'timetolive', '{lease}', '--keys'],
    expected: printed('lease <lease> granted with TTL(60s), remaining(~60s), attached keys([leased/k])\n'),
  },
  {
    name: 'lease timetolive --keys -w json',
    args: ['lease', 'timetolive', '{lease}', '--keys', '-w', 'json'],
    expected: printed(
      `${header(18).slice(0, -1)},"id":<lease>,"ttl":"~60","granted-ttl":60,"keys":["${Buffer.from('leased/k').toString('base64')}"]}\n`,
    ),
  },
  { name: 'lease list', args: ['lease', 'list'], expected: printed('found 1 leases\n<lease>\n') },
  {
    name: 'lease list -w json',
    args: ['lease', 'list', '-w', 'json'],
    expected: printed(`${header(18).slice(0, -1)},"leases":[{"id":<lease>}]}\n`),
  },
  {
    name: 'lease keep-alive --once',
    args: ['lease', 'keep-alive', '--once', '{lease}'],
    expected: printed('lease <lease> keepalived with TTL(60)\n'),
  },
  {
    name: 'lease revoke',
    args: ['lease', 'revoke', '{lease}'],
    expected: printed('lease <lease> revoked\n'),
  },
  {
    name: 'get (the revoked lease took its key)',
    args: ['get', 'leased/', '--prefix'],
    expected: printed(''),
  },
  {
    name: 'lease timetolive (revoked)',
    args: ['lease', 'timetolive', '{lease}'],
    expected: printed('lease <lease> already expired\n'),
  },
  {
    name: 'lease revoke (revoked)',
    args: ['lease', 'revoke', '{lease}'],
    expected: refused(
      'NotFound',
      'etcdserver: requested lease not found',
      'Error: failed to revoke lease (etcdserver: requested lease not found)',
    ),
  },
  {
    name: 'lease keep-alive --once (revoked)',
    args: ['lease', 'keep-alive', '--once', '{lease}'],
    expected: failed('Error: etcdserver: requested lease not found\n', 2),
  },
  {
    name: 'put --lease (no such lease)',
    args: ['put', 'k', 'v', '--lease=1234'],
    expected: refused('NotFound', 'etcdserver: requested lease not found'),
  },
  {
    name: 'lease grant (TTL too large)',
    args: ['lease', 'grant', '9000000001'],
    expected: refused(
      'OutOfRange',
      'etcdserver: too large lease TTL',
      'Error: failed to grant lease (etcdserver: too large lease TTL)',
    ),
  },
  { name: 'lease list (none)', args: ['lease', 'list'], expected: printed('found 0 leases\n') },
  {
    name: 'lease grant (a short lease)',
    args: ['lease', 'grant', '6'],
    capture: { short: /^lease ([0-9a-f]{16}) granted/ },
    expected: printed('lease <short> granted with TTL(6s)\n'),
  },
  {
    // etcdctl renews every third of the TTL: the renewal after the revoke finds the lease gone.
    name: 'lease keep-alive, revoked meanwhile',
    args: ['lease', 'keep-alive', '{short}'],
    concurrent: {
      readyWhen: /keepalived/,
      writer: [{ args: ['lease', 'revoke', '{short}'] }],
      doneWhen: /expired or revoked/,
      stop: 'exit',
    },
    expected:
      'lease <short> keepalived with TTL(6)\nlease <short> expired or revoked.\n--- exit 0\n' +
      '--- writer: etcdctl lease revoke <short>\nlease <short> revoked\n--- exit 0\n',
  },
];

/** Keys, transactions, watches and leases, in order. */
export const KV_SCRIPT: readonly Step[] = [...KV_STEPS, ...TXN_STEPS, ...WATCH_STEPS, ...LEASE_STEPS];
