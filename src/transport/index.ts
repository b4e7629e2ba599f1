export * from './backoff.ts';
export * from './memory-transport.ts';
export * from './message-connection.ts';
export * from './rpc-client.ts';
export * from './rpc-server.ts';
export * from './service.ts';
export * from './tcp-transport.ts';
