export * from './disk-log-store.ts';
export * from './disk-snapshot-store.ts';
export * from './disk-stable-store.ts';
export * from './errors.ts';
export * from './wal.ts';
export * from './wal-record.ts';
export * from './wal-stores.ts';
