/** The lines the harness prints around its measured window (`bench/instructions-cycle.ts`). */
export const WINDOW_START = '-- measured window --';
export const WINDOW_END = '-- end of the measured window --';

/**
 * What V8 compiled or deoptimized during the measured window, from the output of `--trace-opt --trace-deopt`:
 * the functions' names, one per event. Empty when the window ran the cycles' steady code alone.
 */
export function compiledInWindow(stdout: string): string[] {
  const start = stdout.indexOf(WINDOW_START);
  const end = stdout.indexOf(WINDOW_END, start);
  if (start === -1 || end === -1) throw new Error('the harness did not print its measured window');
  return stdout
    .slice(start, end)
    .split('\n')
    .filter((line) => line.startsWith('[completed compiling') || line.startsWith('[bailout'))
    .map((line) => {
      const name = /<JSFunction ([^ >]*)/.exec(line)?.[1] || '(anonymous)';
      return line.startsWith('[bailout') ? `${name} (deoptimized)` : name;
    });
}
