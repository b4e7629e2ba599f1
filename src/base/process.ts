/**
 * Small process helpers shared by the commands and the process tests.
 *
 * @module
 */

/** Whether a process with `pid` exists (signal 0 probes without signalling). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
