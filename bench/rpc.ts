/**
 * RPC benchmark: unary echo calls of a 256-byte message at 1 and 64 calls in
 * flight on one connection, Tessera against @grpc/grpc-js, each server in its
 * own process, in the same run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { RpcClient } from '../src/transport/rpc-client.ts';
import { percentile, printJsonLine, printTable, type Row, round } from './report.ts';
import { BenchEcho, grpcEchoService } from './rpc-services.ts';

const MESSAGE_BYTES = 256;
const WARMUP_MS = 1000;
const MEASURE_MS = Number(process.env['BENCH_MEASURE_MS'] ?? 4000);
const CONCURRENCIES = [1, 64];

type Call = (payload: Buffer) => Promise<Buffer>;

async function startServer(kind: 'tessera' | 'grpc'): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', new URL('./rpc-server.ts', import.meta.url).pathname, kind],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /port=(\d+)/.exec(output);
      if (match) resolve(Number(match[1]));
    });
    child.on('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
  return { child, port };
}

async function measure(call: Call, concurrency: number): Promise<Row & { callsPerSecond: number }> {
  const payload = Buffer.alloc(MESSAGE_BYTES, 0x61);
  const run = async (durationMs: number, latencies: number[] | undefined): Promise<number> => {
    let calls = 0;
    const endAt = performance.now() + durationMs;
    const worker = async (): Promise<void> => {
      while (performance.now() < endAt) {
        const start = performance.now();
        const answer = await call(payload);
        if (answer.length !== MESSAGE_BYTES) throw new Error(`echo returned ${answer.length} bytes`);
        latencies?.push(performance.now() - start);
        calls++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return calls;
  };
  await run(WARMUP_MS, undefined);
  const latencies: number[] = [];
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  const calls = await run(MEASURE_MS, latencies);
  const elapsedSeconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  latencies.sort((a, b) => a - b);
  return {
    callsPerSecond: calls / elapsedSeconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    clientCpuUsPerCall: (cpu.user + cpu.system) / calls,
  };
}

export async function benchRpc(): Promise<void> {
  const servers = { tessera: await startServer('tessera'), grpc: await startServer('grpc') };
  const tesseraClient = new RpcClient({ address: `127.0.0.1:${servers.tessera.port}` });
  const echo = tesseraClient.service(BenchEcho);
  const GrpcClient = grpc.makeGenericClientConstructor(grpcEchoService, 'Echo');
  const grpcClient = new GrpcClient(
    `127.0.0.1:${servers.grpc.port}`,
    grpc.credentials.createInsecure(),
  ) as unknown as {
    echo(payload: Buffer, callback: (error: Error | null, answer?: Buffer) => void): void;
  };
  const calls: Record<'tessera' | 'grpc-js', Call> = {
    tessera: (payload) => echo.echo(payload),
    'grpc-js': (payload) =>
      new Promise((resolve, reject) =>
        grpcClient.echo(payload, (error, answer) => (error ? reject(error) : resolve(answer as Buffer))),
      ),
  };
  const rows: Row[] = [];
  const result: Record<string, unknown> = {
    bench: 'rpc',
    messageBytes: MESSAGE_BYTES,
    measureMs: MEASURE_MS,
  };
  try {
    for (const concurrency of CONCURRENCIES) {
      const measured: Record<string, number> = {};
      for (const [system, call] of Object.entries(calls)) {
        const row = await measure(call, concurrency);
        rows.push({ system, inFlight: concurrency, ...row });
        measured[system] = row.callsPerSecond;
        result[`${system}_c${concurrency}`] = {
          callsPerSecond: Math.round(row.callsPerSecond),
          p50Ms: round(row['p50Ms'] as number),
          p99Ms: round(row['p99Ms'] as number),
          clientCpuUsPerCall: round(row['clientCpuUsPerCall'] as number),
        };
      }
      result[`ratio_c${concurrency}`] = Number(
        ((measured['tessera'] ?? 0) / (measured['grpc-js'] ?? 1)).toFixed(2),
      );
    }
  } finally {
    tesseraClient.close();
    (grpcClient as unknown as grpc.Client).close();
    for (const { child } of Object.values(servers)) child.kill();
  }
  printTable(`Unary echo, ${MESSAGE_BYTES} B, one connection (ratio = Tessera / grpc-js calls/s)`, [
    ...rows,
    ...CONCURRENCIES.map((c) => ({
      system: 'ratio',
      inFlight: c,
      callsPerSecond: result[`ratio_c${c}`] as number,
    })),
  ]);
  printJsonLine(result);
}
