import { expect, test } from 'vitest';
import { collectedInstructions, instructionsMarkdown, INSTRUCTION_ROWS, lowestCount, perCycle, type VersionCounts } from '../bench/instructions.js';

// `npm run bench -- --instructions` runs under valgrind, which the suite does not need: its parsing and its
// table are checked here on callgrind's own output.

test("reads callgrind's instruction count from its summary, and refuses output without one", () => {
  const stderr = ['==4242== Callgrind, a call-graph generating cache profiler', '==4242== Events    : Ir', '==4242== Collected : 1997465099', '==4242== ', '==4242== I   refs:      1,997,465,099'].join('\n');
  expect(collectedInstructions(stderr)).toBe(1_997_465_099);
  expect(() => collectedInstructions('==1== valgrind: failed to start tool')).toThrow(/Collected/);
});

test('a cycle costs the long run less the short run, over the cycles between them', () => {
  expect(perCycle(1_554_619_236, 1_997_465_099)).toBeCloseTo(442_845.863, 3);
});

test('a count is the lowest of its processes: an outlier only ever counts more', () => {
  expect(lowestCount([602_917_331, 710_004_870])).toBe(602_917_331);
  expect(lowestCount([710_004_870, 602_917_331])).toBe(602_917_331);
});

test("the table subtracts each version's own harness and gives each later version's ratio to the first", () => {
  const counts = (harness: number, own: number): VersionCounts => ({
    memory: Object.fromEntries(INSTRUCTION_ROWS.map((row) => [row, row === 'harness' ? harness : harness + own])) as never,
  });
  const markdown = instructionsMarkdown([
    { label: 'base', counts: counts(100_000, 200_000) },
    { label: 'head', counts: counts(110_000, 100_000) },
  ]);
  const lines = markdown.split('\n');
  expect(lines[0]).toBe("| library's own instructions per cycle (harness subtracted) | base | head | head ÷ base |");
  expect(lines).toContain('| memory store: the harness alone (request, response, no session), not subtracted | 100,000 | 110,000 |  |');
  expect(lines).toContain('| memory store: read a counter | 200,000 | 100,000 | 0.50 |');
  // A store measured for one version only is left out, not shown half empty.
  expect(markdown).not.toContain('redis store');
  expect(lines).toHaveLength(2 + INSTRUCTION_ROWS.length);
});
