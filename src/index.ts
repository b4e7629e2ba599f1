/**
 * Tessera: Go-style concurrency, typed RPC, and (as it lands) Raft and a
 * replicated data platform, for Node.js.
 *
 * @module
 */
export * from './base/index.ts';
export * from './concurrency/index.ts';
export * from './transport/index.ts';
