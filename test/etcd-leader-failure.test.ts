/**
 * A write forwarded to a leader that fails before answering: etcd answers
 * it with `UNAVAILABLE` "etcdserver: request timed out, possibly due to
 * previous leader failure" (its `ErrTimeoutDueToLeaderFail`: the write may
 * or may not have been applied), and clients branch on that text. Tessera's
 * follower gives the same answer when the forwarded proposal's wait
 * (`PEER_PROPOSE_TIMEOUT_MS`) ends unanswered and the leader changed
 * meanwhile; as in etcd, the wait is not cut short at the change, since
 * the old leader still answers if the new one kept the entry.
 *
 * Three `tessera start` processes serving etcd's API; the leader is frozen
 * with SIGSTOP (its connections stay open, so nothing fails fast) while a
 * follower forwards a put to it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ServiceError, status } from '@grpc/grpc-js';
import { call, serviceClient, startEtcdCluster } from '../src/api/etcd/etcd-cluster.suite.ts';
import type { TestCluster, TestMember } from './helpers/cluster.ts';

let cluster: TestCluster | undefined;
let frozen: TestMember | undefined;

before(async () => {
  cluster = await startEtcdCluster();
});
after(async () => {
  if (frozen !== undefined) cluster?.signal(frozen, 'SIGCONT');
  await cluster?.destroy();
});

describe('a put forwarded to a leader that fails', () => {
  it("is answered with etcd's UNAVAILABLE for a previous leader's failure when its wait ends unanswered", async () => {
    const running = cluster as TestCluster;
    const leader = await running.leader();
    const follower = running.members.find((member) => member !== leader) as TestMember;
    const kv = serviceClient('etcdserverpb.KV', follower.etcd as string);
    try {
      // The link to the leader is up: these puts are forwarded and answered, many at once.
      await Promise.all(
        Array.from({ length: 64 }, (_, i) =>
          call(kv, 'Put', { key: Buffer.from(`before${i}`), value: Buffer.from('1') }),
        ),
      );
      // Many proposals in flight on one link: no listener-leak warning from the waits.
      assert.deepEqual(
        follower.logs.filter((line) => line.includes('MaxListenersExceededWarning')),
        [],
      );
      frozen = leader;
      running.signal(leader, 'SIGSTOP');
      const error = (await call(kv, 'Put', { key: Buffer.from('during'), value: Buffer.from('2') }).then(
        () => assert.fail('a put forwarded to a frozen leader was answered'),
        (failure: unknown) => failure,
      )) as ServiceError;
      // Without the leader change in the answer, it would be etcd's plain "etcdserver: request timed out".
      assert.equal(error.code, status.UNAVAILABLE);
      assert.equal(error.details, 'etcdserver: request timed out, possibly due to previous leader failure');
    } finally {
      kv.close();
    }
  });
});
