import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clusterIdOf } from './header.ts';

describe('clusterIdOf', () => {
  it('depends on the founding members, not on their order', () => {
    assert.equal(clusterIdOf(['n1', 'n2', 'n3']), clusterIdOf(['n3', 'n1', 'n2']));
    assert.notEqual(clusterIdOf(['n1', 'n2', 'n3']), clusterIdOf(['n1', 'n2', 'n4']));
    assert.notEqual(clusterIdOf(['n1', 'n2', 'n3']), clusterIdOf(['n1', 'n2']));
  });

  it('is a decimal uint64, as ResponseHeader.cluster_id carries it', () => {
    const id = clusterIdOf(['m1', 'm2', 'm3']);
    assert.match(id, /^\d+$/);
    assert.ok(BigInt(id) < 2n ** 64n);
    assert.notEqual(id, '0');
  });
});
