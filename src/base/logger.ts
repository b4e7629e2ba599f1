/**
 * The `Logger` seam: the subset of pino's API Tessera calls, so a caller can
 * pass its own pino logger, and tests a recording one.
 *
 * @module
 */
import { pino } from 'pino';

/** A structured logger: an object of fields, then a message. */
export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

let defaultLogger: Logger | undefined;

/**
 * The process-wide default: pino writing JSON lines to stderr, at the level
 * in `TESSERA_LOG_LEVEL` (default `warn`).
 */
export function getDefaultLogger(): Logger {
  defaultLogger ??= pino(
    { name: 'tessera', level: process.env['TESSERA_LOG_LEVEL'] ?? 'warn' },
    pino.destination({ fd: 2, sync: false }),
  );
  return defaultLogger;
}

/** One recorded log line. */
export interface LogRecord {
  level: 'debug' | 'info' | 'warn' | 'error';
  fields: object;
  message: string;
}

/** A logger that keeps what it is told, for tests. */
export class RecordingLogger implements Logger {
  readonly records: LogRecord[] = [];
  debug(fields: object, message: string): void {
    this.records.push({ level: 'debug', fields, message });
  }
  info(fields: object, message: string): void {
    this.records.push({ level: 'info', fields, message });
  }
  warn(fields: object, message: string): void {
    this.records.push({ level: 'warn', fields, message });
  }
  error(fields: object, message: string): void {
    this.records.push({ level: 'error', fields, message });
  }
}
