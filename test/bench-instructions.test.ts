import { expect, test } from 'vitest';
import { dumpedInstructions, instructionsMarkdown, INSTRUCTION_ROWS, MEASURED_CYCLES, perCycle, type VersionCounts } from '../bench/instructions.js';
import { compiledInWindow, WINDOW_END, WINDOW_START } from '../bench/instructions-window.js';

// `npm run bench -- --instructions` runs under valgrind, which the suite does not need: its parsing and its
// table are checked here on callgrind's own output.

test("reads callgrind's instruction count from one of its dumps, and refuses a file without one", () => {
  const dump = ['# callgrind format', 'version: 1', 'creator: callgrind-3.19.0', 'pid: 4242', 'cmd:  node --predictable cycle.mjs', 'part: 2', '', 'desc: Trigger: --dump-before=node::CPUUsage*', '', 'positions: line', 'events: Ir', 'summary: 328065934', '', 'fl=(1) ???'].join('\n');
  expect(dumpedInstructions(dump)).toBe(328_065_934);
  expect(dumpedInstructions('version: 1\nevents: Ir\ntotals: 1997465099\n')).toBe(1_997_465_099);
  expect(() => dumpedInstructions('version: 1\nevents: Ir\n')).toThrow(/summary/);
});

test('a cycle costs the measured window over its cycles', () => {
  expect(perCycle(328_065_934)).toBeCloseTo(328_065_934 / MEASURED_CYCLES, 6);
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

test('names what V8 compiled or deoptimized between the marks of the measured window, and nothing outside it', () => {
  const stdout = [
    '[completed compiling 0x1f31 <JSFunction lineComment (sfi = 0xa59a)> (target TURBOFAN) - took 0.019, 1.664, 0.030 ms]',
    WINDOW_START,
    '[compiling method 0x3c8c <JSFunction ByteArrayAllocate (sfi = 0x1167)> (target TURBOFAN), mode: ConcurrencyMode::kSynchronous]',
    '[completed compiling 0x3c8c <JSFunction ByteArrayAllocate (sfi = 0x1167)> (target TURBOFAN) - took 0.011, 1.2, 0.02 ms]',
    '[bailout (kind: deopt-eager, reason: wrong map): begin. deoptimizing 0x1f31 <JSFunction  (sfi = 0xa59a)>, 0x27bf <Code TURBOFAN>, opt id 2]',
    WINDOW_END,
    '[completed compiling 0x1f31 <JSFunction disconnect (sfi = 0xa59a)> (target TURBOFAN) - took 0.019, 1.664, 0.030 ms]',
  ].join('\n');
  expect(compiledInWindow(stdout)).toEqual(['ByteArrayAllocate', '(anonymous) (deoptimized)']);
  expect(compiledInWindow(`${WINDOW_START}\n${WINDOW_END}\n`)).toEqual([]);
  expect(() => compiledInWindow('[completed compiling 0x1 <JSFunction f (sfi = 0x2)>]')).toThrow(/window/);
});
