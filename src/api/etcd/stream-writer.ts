/**
 * Writes to a gRPC server stream shared by several producers (the watchers
 * of one Watch stream), honoring gRPC's backpressure: once `write()`
 * reports the stream's buffer full, every producer waits for `'drain'`, so
 * a client that reads slowly holds the producers back instead of filling
 * this process's memory.
 *
 * @module
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';

/**
 * The writer of one stream. Each {@link write} puts its messages on the
 * stream back to back (another producer's messages never come between
 * them); producers that wait go on in the order they called.
 *
 * @example
 * ```ts
 * const writer = new StreamWriter(call, context.signal);
 * await writer.write([created], () => !watcher.stopped);
 * ```
 */
export class StreamWriter<Message> {
  readonly #call: ServerDuplexStream<unknown, Message>;
  readonly #signal: AbortSignal;
  // Invariant: set exactly while the last write found gRPC's buffer full and 'drain' has not come.
  #drained: Promise<void> | undefined;

  /** @param signal aborts when the stream ends: waiting writers give up. */
  constructor(call: ServerDuplexStream<unknown, Message>, signal: AbortSignal) {
    this.#call = call;
    this.#signal = signal;
  }

  /** Whether the stream can no longer be written (the client went away, or it ended). */
  get closed(): boolean {
    return this.#signal.aborted || this.#call.cancelled || this.#call.destroyed || this.#call.writableEnded;
  }

  /**
   * Writes `messages` once gRPC takes more, unless the stream closed or
   * `live()` turned false while waiting (a watcher cancelled meanwhile
   * must send nothing more); when they fill gRPC's buffer, resolves once it
   * drains, so the caller produces nothing more until then.
   *
   * @returns whether the messages were written.
   */
  async write(messages: readonly Message[], live: () => boolean = () => true): Promise<boolean> {
    while (this.#drained !== undefined) await this.#drained;
    if (this.closed || !live()) return false;
    let full = false;
    for (const message of messages) full = !this.#call.write(message) || full;
    if (full) {
      const drained = this.#drain();
      this.#drained = drained;
      await drained;
      this.#drained = undefined;
    }
    return true;
  }

  /** Resolves on gRPC's 'drain', or once the stream closes or ends (a closed stream never drains). */
  #drain(): Promise<void> {
    const call = this.#call;
    const signal = this.#signal;
    return new Promise((resolve) => {
      const done = (): void => {
        call.off('drain', done);
        call.off('close', done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      call.on('drain', done);
      call.on('close', done);
      signal.addEventListener('abort', done, { once: true });
      if (signal.aborted) done();
    });
  }
}
