/**
 * Shorthands for the script's expected transcripts (see `transcript` in
 * `etcdctl-steps.suite.ts`: stdout, then `--- stderr` and stderr, then
 * `--- exit CODE`), after normalization. Not part of the build
 * (`*.suite.ts`).
 *
 * @module
 */

/** A run that printed `stdout` and exited 0. */
export function printed(stdout: string): string {
  return `${stdout}--- exit 0\n`;
}

/** A run that printed `stderr` only and exited `code`. */
export function failed(stderr: string, code = 1): string {
  return `--- stderr\n${stderr}--- exit ${code}\n`;
}

/** etcdctl's warning line when a unary call failed with gRPC `code` and etcd's `message`. */
export function retried(code: string, message: string): string {
  return `{"level":"warn","caller":"clientv3/retry_interceptor.go:62","msg":"retrying of unary invoker failed","target":"endpoint://client-<uuid>/<client>","attempt":0,"error":"rpc error: code = ${code} desc = ${message}"}\n`;
}

/**
 * A call refused with gRPC `code` and etcd's `message`: the warning, then
 * etcdctl's error line (`Error: MESSAGE` unless given), exit 1.
 */
export function refused(code: string, message: string, errorLine = `Error: ${message}`): string {
  return failed(`${retried(code, message)}${errorLine}\n`);
}

/** A response header at `revision` as `-w json` prints it. */
export function header(revision: number): string {
  return `{"cluster_id":<cluster-id>,"member_id":<answering>,"revision":${revision},"raft_term":<term>}`;
}

/** A key-value as `-w json` prints it (key and value base64). */
export function kv(key: string, value: string, create: number, mod: number, version: number): string {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const valuePart = value === '' ? '' : `,"value":"${b64(value)}"`;
  return `{"key":"${b64(key)}","create_revision":${create},"mod_revision":${mod},"version":${version}${valuePart}}`;
}
