/**
 * The state's session marker: LMDB data an operating-system crash may have
 * torn (its session did not close cleanly, in an earlier boot) is discarded
 * on open; data a mere process crash left, or a clean close, is kept.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { EntryType } from '../raft/types.ts';
import { encodeKvEntry, LmdbState } from './state.ts';
import { beginSession, endSession, stateMayBeTorn, writeSessionMarker } from './state-session.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A state directory holding (fake) LMDB files. */
function stateDir(withData = true): string {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-session-'));
  dirs.push(dir);
  if (withData) {
    writeFileSync(join(dir, 'data.mdb'), 'data');
    writeFileSync(join(dir, 'lock.mdb'), 'lock');
  }
  return dir;
}

describe('state session marker', () => {
  it('trusts no data, a clean close in any boot, and an unclean one in this boot', () => {
    assert.equal(stateMayBeTorn(stateDir(false), 'boot-a'), false, 'nothing to tear');
    const clean = stateDir();
    writeSessionMarker(clean, { bootId: 'boot-a', clean: true });
    assert.equal(stateMayBeTorn(clean, 'boot-b'), false, 'closed cleanly before a reboot');
    const crashed = stateDir();
    writeSessionMarker(crashed, { bootId: 'boot-a', clean: false });
    assert.equal(stateMayBeTorn(crashed, 'boot-a'), false, 'a process crash: the page cache kept it all');
  });

  it('distrusts an unclean session of an earlier boot, of an unknown boot, and data with no or a torn marker', () => {
    const rebooted = stateDir();
    writeSessionMarker(rebooted, { bootId: 'boot-a', clean: false });
    assert.equal(stateMayBeTorn(rebooted, 'boot-b'), true);
    assert.equal(stateMayBeTorn(rebooted, null), true, 'no way to tell the boot');
    const unknown = stateDir();
    writeSessionMarker(unknown, { bootId: null, clean: false });
    assert.equal(stateMayBeTorn(unknown, null), true);
    assert.equal(stateMayBeTorn(stateDir(), 'boot-a'), true, 'no marker beside data');
    const torn = stateDir();
    writeFileSync(join(torn, 'session.json'), '{"bootId":"boot-a","cle');
    assert.equal(stateMayBeTorn(torn, 'boot-a'), true, 'a torn marker');
  });

  it('beginSession deletes only the LMDB files of torn data and marks the session open; endSession marks it clean', () => {
    const dir = stateDir();
    writeFileSync(join(dir, 'other'), 'kept');
    writeSessionMarker(dir, { bootId: 'boot-a', clean: false });
    assert.equal(beginSession(dir, 'boot-b'), true);
    assert.deepEqual(
      [existsSync(join(dir, 'data.mdb')), existsSync(join(dir, 'lock.mdb')), existsSync(join(dir, 'other'))],
      [false, false, true],
    );
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'session.json'), 'utf8')), {
      bootId: 'boot-b',
      clean: false,
    });
    endSession(dir, 'boot-b');
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'session.json'), 'utf8')), {
      bootId: 'boot-b',
      clean: true,
    });
    const kept = stateDir();
    writeSessionMarker(kept, { bootId: 'boot-a', clean: true });
    assert.equal(beginSession(kept, 'boot-b'), false);
    assert.equal(readFileSync(join(kept, 'data.mdb'), 'utf8'), 'data');
  });

  it('LmdbState keeps its data across a clean close and discards it after an unclean session of an earlier boot', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-session-state-'));
    dirs.push(dir);
    const state = LmdbState.open(dir);
    assert.equal(state.discardedTornState, false);
    const key = new TextEncoder().encode('k');
    await state.apply([
      {
        term: 1,
        index: 1,
        type: EntryType.normal,
        data: encodeKvEntry({
          clientId: 1,
          requestId: 1,
          command: { type: 'put', request: { key, value: key } },
        }),
      },
    ]);
    await state.close();
    const reopened = LmdbState.open(dir);
    assert.deepEqual([reopened.discardedTornState, reopened.applied, reopened.revision], [false, 1, 2]);
    await reopened.close();
    writeSessionMarker(dir, { bootId: 'an-earlier-boot', clean: false });
    const rebuilt = LmdbState.open(dir);
    assert.deepEqual([rebuilt.discardedTornState, rebuilt.applied, rebuilt.revision], [true, 0, 1]);
    assert.equal(rebuilt.range({ key }).kvs.length, 0);
    await rebuilt.close();
  });
});
