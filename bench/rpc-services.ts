/** The echo service both RPC systems serve in the benchmark: raw bytes in, the same bytes out. */
import type * as grpc from '@grpc/grpc-js';
import { defineService, unary } from '../src/transport/service.ts';

export const BenchEcho = defineService('bench', { echo: unary<Buffer, Buffer>() });

const identity = (bytes: Buffer): Buffer => bytes;

/** grpc-js without protobuf: the same bytes on the wire, no serialization cost on either side. */
export const grpcEchoService: grpc.ServiceDefinition = {
  echo: {
    path: '/bench.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};
