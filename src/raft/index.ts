export * from './memory-storage.ts';
export * from './memory-stores.ts';
export * from './raft.ts';
export * from './raw-node.ts';
export type { RaftStorage } from './storage.ts';
export * from './stores.ts';
export * from './types.ts';
