import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { eventBytes } from '../../kv/history-reader.ts';
import type { Event } from '../../kv/types.ts';
import { fragmentsOf, type Release, WatchAssembler } from './watch-assembler.ts';
import { put } from './watch-fixtures.suite.ts';

const names = (events: readonly Event[] | undefined) =>
  events?.map((e) => `${new TextDecoder().decode(e.kv.key)}@${e.kv.modRevision}`);

describe('WatchAssembler', () => {
  it('holds a revision that may continue until it is known whole', () => {
    const assembler = new WatchAssembler();
    assert.equal(assembler.add([put('a', 5)], true), undefined);
    assert.equal(assembler.holding, true);
    const release = assembler.add([put('b', 5), put('c', 6), put('d', 7)], true);
    assert.deepEqual(names(release?.events), ['a@5', 'b@5', 'c@6']);
    assert.equal(release?.through, 6);
    const rest = assembler.add([put('e', 8)], false);
    assert.deepEqual(names(rest?.events), ['d@7', 'e@8']);
    assert.equal(rest?.through, 8);
    assert.equal(assembler.holding, false);
  });

  it('release() gives what is held, its revision not counted as whole', () => {
    const assembler = new WatchAssembler();
    assembler.add([put('a', 3), put('b', 4)], true);
    const release = assembler.release();
    assert.deepEqual(names(release?.events), ['b@4']);
    assert.equal(release?.through, 3);
    assert.equal(assembler.release(), undefined);
  });

  it('a revision past heldBytesMax goes out as it stands', () => {
    const one = eventBytes(put('a', 9, 100));
    const assembler = new WatchAssembler(2 * one);
    assert.equal(assembler.add([put('a', 9, 100), put('b', 9, 100)], true), undefined);
    const release = assembler.add([put('c', 9, 100)], true);
    assert.deepEqual(names(release?.events), ['a@9', 'b@9', 'c@9']);
    assert.equal(release?.through, 8);
  });

  it('refuses events that go back in revision order, and a bad bound', () => {
    const assembler = new WatchAssembler();
    assembler.add([put('a', 5)], true);
    assert.throws(() => assembler.add([put('b', 4)], false), /revision order/);
    assert.throws(() => new WatchAssembler(0), RangeError);
  });

  it('passes every event on once, in order; a release covers whole revisions through `through`', () => {
    const scenario = fc.record({
      sizes: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 12 }),
      gaps: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 12, maxLength: 12 }),
      cuts: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 40 }),
      // The member may say a revision continues when its rest turned out not to be the watcher's.
      spurious: fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
      heldEvents: fc.integer({ min: 1, max: 6 }),
    });
    fc.assert(
      fc.property(scenario, ({ sizes, gaps, cuts, spurious, heldEvents }) => {
        const events: Event[] = [];
        let revision = 10;
        sizes.forEach((size, r) => {
          for (let i = 0; i < size; i++) events.push(put(`k${r}.${i}`, revision));
          revision += gaps[r] ?? 1;
        });
        const unit = eventBytes(events[0] as Event);
        const assembler = new WatchAssembler(heldEvents * unit);
        const releases: Release[] = [];
        let at = 0;
        for (let c = 0; at < events.length; c++) {
          const chunk = events.slice(at, at + (cuts[c % cuts.length] ?? 1));
          at += chunk.length;
          const last = chunk[chunk.length - 1] as Event;
          const continues = events[at]?.kv.modRevision === last.kv.modRevision;
          const release = assembler.add(chunk, continues || spurious[c % spurious.length] === true);
          if (release !== undefined) releases.push(release);
        }
        const final = assembler.release();
        if (final !== undefined) releases.push(final);
        assert.deepEqual(
          releases.flatMap((r) => r.events),
          events,
        );
        let released = 0;
        for (const release of releases) {
          assert.ok(release.events.length > 0);
          released += release.events.length;
          // Nothing at or below `through` comes later.
          for (const later of events.slice(released)) assert.ok(later.kv.modRevision > release.through);
          // A revision is split across releases only when it is larger than the bound.
          const next = events[released];
          const last = release.events[release.events.length - 1] as Event;
          if (next?.kv.modRevision === last.kv.modRevision) {
            const whole = events.filter((e) => e.kv.modRevision === last.kv.modRevision).length;
            assert.ok(whole > heldEvents, `revision ${last.kv.modRevision} of ${whole} events was split`);
          }
        }
      }),
    );
  });
});

describe('fragmentsOf', () => {
  it('cuts under the bound, one event at least per piece, whole when it fits', () => {
    const unit = eventBytes(put('a', 1, 10));
    const events = ['a', 'b', 'c', 'd', 'e'].map((key) => put(key, 1, 10));
    assert.deepEqual(
      fragmentsOf(events, 2 * unit).map((piece) => names(piece)),
      [['a@1', 'b@1'], ['c@1', 'd@1'], ['e@1']],
    );
    assert.equal(fragmentsOf(events, 100 * unit).length, 1);
    assert.equal(fragmentsOf([put('big', 1, 1000)], unit).length, 1);
    assert.throws(() => fragmentsOf(events, 0), RangeError);
  });
});
