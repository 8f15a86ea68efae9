import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

/**
 * Where a comparison run's processes may run: the server under test alone on the last CPU, this process (the
 * load generator) and redis-server on the others, as in a deployment where the clients and Redis are other
 * machines. Left to the scheduler, the three competed for the same cores and identical code paths measured
 * anywhere from 0.60 to 1.24 of each other across rounds.
 */
export interface CpuLayout {
  /** A `taskset` CPU list, such as "1". */
  readonly server: string;
  readonly others: string;
}

/** The layout, or null where it cannot be had (a single CPU, or no `taskset`). */
export function cpuLayout(): CpuLayout | null {
  const count = availableParallelism();
  if (count < 2) return null;
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' });
  } catch {
    return null;
  }
  return { server: String(count - 1), others: count === 2 ? '0' : `0-${count - 2}` };
}

/** Restricts a process, every thread of it, to `cpus`; threads it starts later inherit that. */
export function pinProcess(pid: number, cpus: string): void {
  execFileSync('taskset', ['--all-tasks', '--cpu-list', '--pid', cpus, String(pid)], { stdio: 'ignore' });
}
