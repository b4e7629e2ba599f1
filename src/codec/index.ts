export * from './checksum.ts';
export * from './frame.ts';
export * from './msgpack.ts';
