/**
 * Sizes and reporting for the reliability suite. Default sizes keep `npm test` short on two cores;
 * `TRPC_SESSION_STRESS=1` runs the larger versions.
 */
export const stressed = process.env.TRPC_SESSION_STRESS === '1';

/** `normal` in an ordinary run, `stress` under `TRPC_SESSION_STRESS=1`. */
export function scaled(normal: number, stress: number): number {
  return stressed ? stress : normal;
}

/** Logs one line of figures for a category, collected in the closing note. */
export function logFigures(category: string, figures: Record<string, number | string>): void {
  const parts = Object.entries(figures).map(([name, value]) => `${name} ${value}`);
  console.log(`[reliability] ${category}: ${parts.join(', ')}`);
}

/** Runs `task` over `items` with at most `concurrency` at a time; resolves when all are done. */
export async function forEachConcurrently<T>(items: readonly T[], concurrency: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await task(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
