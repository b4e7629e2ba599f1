/**
 * An echo server for the RPC benchmark, in its own process so client and
 * server each get a core: `node --import tsx bench/rpc-server.ts tessera|grpc`.
 * Prints `port=N` once listening; exits when stdin closes.
 */
import * as grpc from '@grpc/grpc-js';
import { RpcServer } from '../src/transport/rpc-server.ts';
import { BenchEcho, grpcEchoService } from './rpc-services.ts';

const kind = process.argv[2];
if (kind === 'tessera') {
  const server = new RpcServer();
  server.register(BenchEcho, { echo: (payload) => payload });
  const address = await server.listen('127.0.0.1:0');
  console.log(`port=${address.split(':')[1]}`);
} else if (kind === 'grpc') {
  const server = new grpc.Server();
  server.addService(grpcEchoService, {
    echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
      callback(null, call.request),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  console.log(`port=${port}`);
} else {
  console.error(`Cannot start bench server: expected tessera or grpc, got ${kind}`);
  process.exit(2);
}
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
