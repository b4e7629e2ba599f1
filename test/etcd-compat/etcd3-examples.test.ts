/**
 * The `etcd3` npm client's own documented examples (package.json pins
 * 1.1.2), run unchanged against a 3-member cluster of `tessera start`
 * processes serving etcd's v3 API, each with what it documents asserted.
 *
 * Each example below is copied from `node_modules/etcd3` (file and doc
 * symbol in its comment). What changed, and only that: `new Etcd3()` gets
 * `{ hosts }`, Tessera's etcd endpoints; typos that would fail against etcd
 * too are fixed, each saying so; a narrow cast where TypeScript needs one.
 * The names an example takes from around it (`require`, `console`,
 * `setTimeout`, a `client`, `doSomeWork`...) are its function's parameters,
 * supplied by the test (see `etcd3-examples.suite.ts`), so the test sees
 * what it printed and ends what it left running. The examples' keys are
 * fixed (three use `foo`; two delete every key), so the tests run one
 * after another, each cleaning up after itself.
 *
 * Not run: `Etcd3.mock` (index.d.ts) talks to no server, and the
 * `IOptions` snippets (options.d.ts) configure a client rather than use a
 * feature. Not reached: branches whose only outcome is a rejection the
 * example leaves unhandled (the STM's "not enough money", a second
 * `lock().do()` while the first holds), and the election observer's
 * `error` (a watch failing for good).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { after, afterEach, before, describe, it } from 'node:test';
import { type Etcd3, EtcdLeaseInvalidError } from 'etcd3';
import { etcd3ClientOf, startEtcdCluster } from '../../src/api/etcd/etcd-cluster.suite.ts';
import type { TestCluster, TestMember } from '../helpers/cluster.ts';
import { type ExampleConsole, type ExampleRequire, ExampleSandbox, until } from './etcd3-examples.suite.ts';

/** The names the examples take from their surroundings. */
interface ExampleScope {
  readonly require: ExampleRequire;
  readonly console: ExampleConsole;
  readonly setTimeout: (callback: () => void, delayMs: number) => void;
  readonly Etcd3: typeof Etcd3;
  /** Tessera's etcd endpoints as `http://host:port`: what `new Etcd3()` is given. */
  readonly hosts: string[];
}

// Copied from node_modules/etcd3/readme.md, "Quickstart".
function quickstart({ require, console, hosts }: ExampleScope): void {
  const { Etcd3 } = require('etcd3');
  const client = new Etcd3({ hosts });

  (async () => {
    await client.put('foo').value('bar');

    const fooValue = await client.get('foo').string();
    console.log('foo was:', fooValue);

    const allFValues = await client.getAll().prefix('f').keys();
    console.log('all our keys starting with "f":', allFValues);

    await client.delete().all();
  })();
}

// Copied from node_modules/etcd3/lib/index.d.ts, `Etcd3` (class doc).
async function etcd3ClassExample({ require, console, hosts }: ExampleScope): Promise<void> {
  const { Etcd3 } = require('etcd3');
  const client = new Etcd3({ hosts });

  await client.put('foo').value('bar');
  console.log('foo is:', await client.get('foo').string());

  const keys = await client.getAll().prefix('f').strings();
  // Fixed: the docs have `console.log('all keys starting with "f"': keys)`, a syntax error; a comma was meant.
  console.log('all keys starting with "f"', keys);

  await client.delete().all();
}

// Copied from node_modules/etcd3/lib/builder.d.ts, `ComparatorBuilder` (class doc).
function comparatorBuilderExample({
  client,
  uuid,
  console,
}: {
  client: Etcd3;
  uuid: { v4(): string };
  console: ExampleConsole;
}) {
  const id = uuid.v4();

  function lock() {
    return (
      client
        .if('my_lock', 'Create', '==', 0)
        .then(client.put('my_lock').value(id))
        .else(client.get('my_lock'))
        .commit()
        // Fixed: the docs test `result.succeeded === id`, a boolean against the uuid, which is never true,
        // so it printed 'already locked' even on etcd; `succeeded` is whether the `then` branch (the put) ran.
        .then((result) => console.log(result.succeeded ? 'lock acquired' : 'already locked'))
    );
  }

  function unlock() {
    return client.if('my_lock', 'Value', '==', id).then(client.delete().key('my_lock')).commit();
  }
  return { lock, unlock };
}

// Copied from node_modules/etcd3/lib/lease.d.ts, `Lease` (class doc).
function leaseExample({ require, console, hosts }: ExampleScope) {
  // biome-ignore lint/style/useNodejsImportProtocol: the example's text, unchanged.
  const os = require('os');
  const { Etcd3 } = require('etcd3');
  const client = new Etcd3({ hosts });

  const hostPrefix = 'available-hosts/';

  // Fixed: `async` added: the docs' function uses `await` without it, a syntax error.
  async function grantLease() {
    const lease = client.lease(10); // set a TTL of 10 seconds

    lease.on('lost', (err) => {
      console.log('We lost our lease as a result of this error:', err);
      console.log('Trying to re-grant it...');
      grantLease();
    });

    await lease.put(hostPrefix + os.hostname()).value('');
  }

  // Fixed: `async` added, as above.
  async function getAvailableHosts() {
    const keys = await client.getAll().prefix(hostPrefix).keys();
    return keys.map((key) => key.slice(hostPrefix.length));
  }
  return { grantLease, getAvailableHosts };
}

// Copied from node_modules/etcd3/lib/lock.d.ts, `Lock` (class doc).
function lockExample({
  require,
  hosts,
  doMyAtomicAction,
}: ExampleScope & { doMyAtomicAction: () => Promise<void> }): void {
  const { Etcd3 } = require('etcd3');
  const client = new Etcd3({ hosts });

  client.lock('my_resource').do(() => {
    // The lock will automatically be released when this promise returns
    return doMyAtomicAction();
  });
}

// Copied from node_modules/etcd3/lib/election.d.ts, `Election` (class doc, @example).
function electionExample({
  require,
  Etcd3,
  console,
  setTimeout,
  hosts,
  doSomeWork,
  stopDoingWork,
}: ExampleScope & { doSomeWork: () => void; stopDoingWork: () => void }) {
  // biome-ignore lint/style/useNodejsImportProtocol: the example's text, unchanged.
  const os = require('os');
  const client = new Etcd3({ hosts });
  const election = client.election('singleton-job');

  function runCampaign() {
    const campaign = election.campaign(os.hostname());
    campaign.on('elected', () => {
      // This server is now the leader! Let's start doing work
      doSomeWork();
    });
    campaign.on('error', (error) => {
      // An error happened that caused our campaign to fail. If we were the
      // leader, make sure to stop doing work (another server is the leader
      // now) and create a new campaign.
      console.error(error);
      stopDoingWork();
      setTimeout(runCampaign, 5000);
    });
  }

  async function observeLeader() {
    const observer = await election.observe();
    console.log('The current leader is', observer.leader());
    observer.on('change', (leader) => console.log('The new leader is', leader));
    observer.on('error', () => {
      // Something happened that fatally interrupted observation.
      setTimeout(observeLeader, 5000);
    });
  }
  return { runCampaign, observeLeader };
}

// Copied from node_modules/etcd3/lib/stm.d.ts, `SoftwareTransaction` (class doc).
function stmExample({ etcd3 }: { etcd3: Etcd3 }): void {
  const amount = 42;

  etcd3.stm().transact((tx) => {
    return Promise.all([
      // Cast: `number()` resolves to null for a missing key, which the example does not expect.
      tx.get('bank/account1').number() as Promise<number>,
      tx.get('bank/account2').number() as Promise<number>,
    ]).then(([balance1, balance2]) => {
      if (balance1 < amount) {
        throw new Error('You do not have enough money to transfer!');
      }

      return Promise.all([
        tx.put('bank/account1').value(balance1 - amount),
        tx.put('bank/account2').value(balance2 + amount),
      ]);
    });
  });
}

// Copied from node_modules/etcd3/lib/namespace.d.ts, `Namespace` (class doc).
async function namespaceExample({ Etcd3, hosts }: ExampleScope): Promise<void> {
  const client = new Etcd3({ hosts });
  const ns = client.namespace('user1/');

  await ns.put('foo').value('bar'); // sets the key `user1/foo` to `bar`
  await ns.delete().all(); // deletes all keys with the prefix `user1/`
}

// Copied from node_modules/etcd3/lib/watch.d.ts, `WatchBuilder` (class doc).
function watchBuilderExample({ Etcd3, console, hosts }: ExampleScope): void {
  const client = new Etcd3({ hosts });

  client
    .watch()
    .key('foo')
    .create()
    .then((watcher) => {
      watcher
        .on('disconnected', () => console.log('disconnected...'))
        .on('connected', () => console.log('successfully reconnected!'))
        .on('put', (res) => console.log('foo got set to:', res.value.toString()));
    });
}

describe('etcd3 1.1.2 documented examples, unchanged, against Tessera', { timeout: 240_000 }, () => {
  let cluster: TestCluster;
  /** A client of the first member, for setting up and checking; not the examples'. */
  let probe: Etcd3;
  const probes: Etcd3[] = [];
  const sandboxes: ExampleSandbox[] = [];
  /** Another probe, of `member`; closed after the file. */
  const probeOf = (member: TestMember): Etcd3 => {
    const made = etcd3ClientOf(member);
    probes.push(made);
    return made;
  };
  /** A fresh run of an example: one program on one machine (`hostname`). */
  const sandbox = (hostname?: string): ExampleSandbox => {
    const made = new ExampleSandbox(hostname === undefined ? {} : { hostname });
    sandboxes.push(made);
    return made;
  };
  const scopeOf = (made: ExampleSandbox): ExampleScope => ({
    require: made.require,
    console: made.console,
    setTimeout: made.setTimeout,
    Etcd3: made.Etcd3,
    hosts: cluster.etcdEndpoints.map((endpoint) => `http://${endpoint}`),
  });
  /** The keys under `prefix`, in key order. */
  const keysUnder = (prefix: string) => probe.getAll().prefix(prefix).keys();

  before(async () => {
    cluster = await startEtcdCluster();
    probe = probeOf(cluster.members[0] as TestMember);
  });

  afterEach(async () => {
    // Later runs first (an election observer ends before the campaigns it watches); clients close last.
    const ending = sandboxes.splice(0).reverse();
    for (const made of ending) await made.stop();
    for (const made of ending) made.close();
  });

  after(async () => {
    for (const made of probes) made.close();
    await cluster?.destroy();
  });

  it('readme.md Quickstart: prints foo and the keys starting with "f", then deletes every key', async () => {
    await probe.put('fizz').value('buzz');
    await probe.put('other').value('x');
    const run = sandbox();
    quickstart(scopeOf(run));
    // The example does not hand back its promise: done once it printed both lines and no key is left.
    await until(
      async () => run.printed.length === 2 && (await probe.getAll().count()) === 0,
      () => `the example to print twice and delete every key; printed ${JSON.stringify(run.printed)}`,
    );
    assert.deepEqual(run.printed, ['foo was: bar', `all our keys starting with "f": [ 'fizz', 'foo' ]`]);
  });

  it('index.d.ts Etcd3: prints foo and the values of keys starting with "f", then deletes every key', async () => {
    await probe.put('fizz').value('buzz');
    await probe.put('other').value('x');
    const run = sandbox();
    await etcd3ClassExample(scopeOf(run));
    assert.deepEqual(run.printed, ['foo is: bar', `all keys starting with "f" { fizz: 'buzz', foo: 'bar' }`]);
    assert.equal(await probe.getAll().count(), 0);
  });

  it('builder.d.ts ComparatorBuilder: one holder of my_lock at a time; unlock only by the holder', async () => {
    const [first, second] = [sandbox(), sandbox()];
    const programOf = (run: ExampleSandbox, id: string) =>
      comparatorBuilderExample({
        client: new run.Etcd3({ hosts: scopeOf(run).hosts }),
        uuid: { v4: () => id },
        console: run.console,
      });
    const [firstId, secondId] = [randomUUID(), randomUUID()];
    const one = programOf(first, firstId);
    const two = programOf(second, secondId);
    await one.lock();
    await two.lock();
    assert.deepEqual([first.printed, second.printed], [['lock acquired'], ['already locked']]);
    assert.equal(await probe.get('my_lock').string(), firstId);
    await two.unlock();
    assert.equal(await probe.get('my_lock').string(), firstId, 'only the holder unlocks');
    await one.unlock();
    assert.equal(await probe.get('my_lock').string(), null);
    await two.lock();
    assert.deepEqual(second.printed, ['already locked', 'lock acquired']);
    assert.equal(await probe.get('my_lock').string(), secondId);
    await two.unlock();
    assert.equal(await probe.get('my_lock').string(), null);
  });

  it('lease.d.ts Lease: the host is listed under a 10 s lease; when the lease is lost it says so and re-grants', async () => {
    const key = `available-hosts/${os.hostname()}`;
    const events: string[] = [];
    const watcher = await probe.watch().prefix('available-hosts/').create();
    watcher.on('put', (kv) => events.push(`put ${kv.key} lease=${kv.lease}`));
    watcher.on('delete', (kv) => events.push(`delete ${kv.key}`));
    try {
      const run = sandbox();
      const example = leaseExample(scopeOf(run));
      await example.grantLease();
      assert.deepEqual(await example.getAvailableHosts(), [os.hostname()]);
      const first = (await probe.get(key).exec()).kvs[0]?.lease ?? '0';
      assert.notEqual(first, '0', 'the key is under a lease');
      const live = await probe.leaseClient.leaseTimeToLive({ ID: first });
      assert.equal(live.grantedTTL, '10');

      // The lease ends on the server (as when it expires): its key goes, and the keep-alive hears of it.
      await probe.leaseClient.leaseRevoke({ ID: first });
      await until(
        () => run.printed.length === 2,
        () => `'lost' to be printed; printed ${JSON.stringify(run.printed)}`,
      );
      assert.ok(run.logged[0]?.[1] instanceof EtcdLeaseInvalidError, String(run.logged[0]?.[1]));
      assert.match(
        run.printed[0] ?? '',
        /^We lost our lease as a result of this error: EtcdLeaseInvalidError/,
      );
      assert.equal(run.printed[1], 'Trying to re-grant it...');
      await until(
        () => events.length === 3,
        () => `the key to come back; events ${JSON.stringify(events)}`,
      );
      const second = (await probe.get(key).exec()).kvs[0]?.lease ?? '0';
      assert.notEqual(second, first);
      assert.deepEqual(events, [`put ${key} lease=${first}`, `delete ${key}`, `put ${key} lease=${second}`]);
      assert.deepEqual(await example.getAvailableHosts(), [os.hostname()]);

      await run.end();
      assert.deepEqual(await keysUnder('available-hosts/'), [], 'revoking the lease deletes its key');
    } finally {
      await watcher.cancel();
    }
  });

  it('lock.d.ts Lock: my_resource is held, and nobody else gets it, until the action resolves', async () => {
    let finish = () => {};
    let actions = 0;
    const doMyAtomicAction = () => {
      actions += 1;
      return new Promise<void>((resolve) => {
        finish = resolve;
      });
    };
    // The lock's lease is etcd3's own (not recorded, see `ExampleEtcd3.stop`): its first keep-alive is
    // answered within the round trips below, its next is due 10 s later, after the release.
    lockExample({ ...scopeOf(sandbox()), doMyAtomicAction });
    await until(
      () => actions === 1,
      () => 'the lock to be acquired and the action started',
    );
    const held = (await probe.get('my_resource').exec()).kvs[0];
    assert.notEqual(held?.lease ?? '0', '0', 'the lock key is under a lease');
    // Another taker, making the compare etcd3's `Lock.acquire` makes (without the lease it would take,
    // whose keep-alive timer could outlive the test, see `ExampleEtcd3.stop`).
    const take = () =>
      probe.if('my_resource', 'Create', '==', 0).then(probe.put('my_resource').value('')).commit();
    assert.equal((await take()).succeeded, false, 'nobody else takes the lock');
    finish();
    await until(
      async () => (await probe.get('my_resource').string()) === null,
      () => 'the lock to be released',
    );
    assert.equal((await take()).succeeded, true, 'released, the lock is free');
    await probe.delete().key('my_resource');
    assert.equal(actions, 1);
  });

  it('election.d.ts Election: one leader; on losing its lease it stops, the next leads, observers see it', async () => {
    const work: string[] = [];
    const server = (hostname: string) => {
      const run = sandbox(hostname);
      const example = electionExample({
        ...scopeOf(run),
        doSomeWork: () => work.push(`${hostname} starts`),
        stopDoingWork: () => work.push(`${hostname} stops`),
      });
      return { run, example };
    };
    const candidates = async () =>
      (await probe.namespace('election/singleton-job/').getAll().sort('Create', 'Ascend').exec()).kvs;
    const a = server('server-a');
    const b = server('server-b');
    const watching = server('server-c');

    a.example.runCampaign();
    await until(
      () => work.length === 1,
      () => 'server-a to be elected',
    );
    b.example.runCampaign();
    await until(
      async () => (await candidates()).length === 2,
      () => 'server-b to campaign',
    );
    await watching.example.observeLeader();
    assert.deepEqual(watching.run.printed, ['The current leader is server-a']);
    assert.deepEqual(work, ['server-a starts'], 'server-b waits');

    // server-a's lease ends on the server (as when it expires).
    const [leader] = await candidates();
    assert.equal(leader?.value.toString(), 'server-a');
    work.push('server-a’s lease revoked');
    await probe.leaseClient.leaseRevoke({ ID: leader?.lease ?? '0' });
    await until(
      () => watching.run.printed.length === 2 && work.includes('server-b starts'),
      () => `server-b to lead; printed ${JSON.stringify(watching.run.printed)}, work ${JSON.stringify(work)}`,
    );
    assert.deepEqual(watching.run.printed, ['The current leader is server-a', 'The new leader is server-b']);
    // server-a hears of it at its next keep-alive (a third of the 60 s TTL), not at once.
    await until(
      () => a.run.scheduled.length === 1,
      () => `server-a to give up; work ${JSON.stringify(work)}`,
    );
    assert.deepEqual(work.slice(0, 2), ['server-a starts', 'server-a’s lease revoked']);
    assert.deepEqual(work.slice(2).sort(), ['server-a stops', 'server-b starts']);
    assert.ok(a.run.logged[0]?.[0] instanceof EtcdLeaseInvalidError, String(a.run.logged[0]?.[0]));
    assert.equal(a.run.scheduled[0]?.delayMs, 5000);

    // Its retry campaigns again, behind server-b.
    a.run.scheduled[0]?.callback();
    await until(
      async () => (await candidates()).length === 2,
      () => 'server-a to campaign again',
    );
    assert.equal(await probe.election('singleton-job').leader(), 'server-b');
    assert.equal(watching.run.printed.length, 2);
    assert.deepEqual(b.run.printed, []);
  });

  it('stm.d.ts SoftwareTransaction: two concurrent transfers of 42 both apply, none lost', async () => {
    // Both balances in one transaction, so they share a mod revision: etcd3 1.1.2's SerializableSnapshot
    // STM checks each written key's mod revision against the earliest mod revision it read (etcd's Go STM
    // did too, until etcd-io/etcd#8439 checked against the first read's header revision instead), so
    // balances put at two revisions would conflict on every retry, against etcd as well.
    const balance = (key: string, value: string) => ({
      request_put: { key: Buffer.from(key), value: Buffer.from(value) },
    });
    await probe.kv.txn({ success: [balance('bank/account1', '100'), balance('bank/account2', '0')] });
    const clients = [sandbox(), sandbox()].map((run) => new run.Etcd3({ hosts: scopeOf(run).hosts }));
    for (const etcd3 of clients) stmExample({ etcd3 });
    // One read, so both balances come from one revision.
    const balances = () => probe.getAll().prefix('bank/').strings();
    let seen: Record<string, string> = {};
    // The example does not hand back its promise: done once both transfers show.
    await until(
      async () => {
        seen = await balances();
        return seen['bank/account2'] === '84';
      },
      () => `both transfers to apply; balances ${JSON.stringify(seen)}`,
    );
    assert.deepEqual(seen, { 'bank/account1': '16', 'bank/account2': '84' });
    await probe.delete().prefix('bank/');
  });

  it('namespace.d.ts Namespace: puts user1/foo=bar, then deletes every user1/ key and no other', async () => {
    await probe.put('user1/other').value('x');
    await probe.put('user1').value('outside');
    await probe.put('user2/foo').value('outside');
    const events: string[] = [];
    const watcher = await probe.watch().prefix('user').create();
    watcher.on('put', (kv) => events.push(`put ${kv.key}=${kv.value}`));
    watcher.on('delete', (kv) => events.push(`delete ${kv.key}`));
    try {
      await namespaceExample(scopeOf(sandbox()));
      await until(
        () => events.length === 3,
        () => `the example's put and deletes; events ${JSON.stringify(events)}`,
      );
      assert.deepEqual(events, ['put user1/foo=bar', 'delete user1/foo', 'delete user1/other']);
      assert.deepEqual(await keysUnder('user'), ['user1', 'user2/foo']);
    } finally {
      await watcher.cancel();
      await probe.delete().prefix('user');
    }
  });

  it('watch.d.ts WatchBuilder: prints every put of foo once, across disconnects from members going down', async () => {
    const run = sandbox();
    watchBuilderExample(scopeOf(run));
    await until(
      () => run.clients[0]?.watchers.length === 1,
      () => 'the watcher to be created',
    );
    const values = ['bar'];
    await probe.put('foo').value('bar');
    const putLines = () => run.printed.filter((line) => line.startsWith('foo got set to: '));
    await until(
      () => putLines().length === 1,
      () => `the put to be printed; printed ${JSON.stringify(run.printed)}`,
    );
    // Each member goes down in turn, so the one the watch stream is on does; a put lands while it is down.
    for (const member of cluster.members) {
      await cluster.kill(member);
      const running = cluster.running();
      // A leader other than the one just killed: the others name it until they notice it is gone.
      await cluster.waitForLeader(running, 15_000, member.name);
      const value = `put while ${member.name} was down`;
      await probeOf(running[0] as TestMember)
        .put('foo')
        .value(value);
      values.push(value);
      await cluster.start(member);
    }
    await cluster.waitForLeader();
    await until(
      () => putLines().length >= values.length,
      () => `every put to be printed; printed ${JSON.stringify(run.printed)}`,
    );
    assert.deepEqual(
      putLines(),
      values.map((value) => `foo got set to: ${value}`),
    );
    // etcd3 reports `disconnected` again for each reconnect attempt that fails (one to the member still down).
    const links = run.printed.filter(
      (line, index) =>
        !line.startsWith('foo got set to: ') &&
        !(line === 'disconnected...' && run.printed[index - 1] === 'disconnected...'),
    );
    assert.ok(links.length >= 2, `the stream was cut at least once; printed ${JSON.stringify(run.printed)}`);
    assert.deepEqual(
      links,
      links.map((_, index) => (index % 2 === 0 ? 'disconnected...' : 'successfully reconnected!')),
    );
    assert.equal(links.at(-1), 'successfully reconnected!');
    await probe.delete().key('foo');
  });
});
