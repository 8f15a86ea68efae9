import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { execFileSync } from 'node:child_process';

export const RESULTS_PATH = new URL('./RESULTS.md', import.meta.url);

const HEADER = `# Benchmark results

Written by \`npm run bench\` (the comparison and the micro-benchmarks) and \`npm run bench -- --soak\` (the soak);
each replaces only its own section. The machine is shared and noisy: compare ratios within one run, not absolute
numbers across runs.
`;

/** Replaces the section `name` of RESULTS.md (or appends it), leaving the other sections as they were. */
export function writeSection(name: string, markdown: string): void {
  const start = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const block = `${start}\n${markdown.trim()}\n${end}`;
  const current = existsSync(RESULTS_PATH) ? readFileSync(RESULTS_PATH, 'utf8') : HEADER;
  const from = current.indexOf(start);
  const to = current.indexOf(end);
  const next = from >= 0 && to > from ? current.slice(0, from) + block + current.slice(to + end.length) : `${current.trimEnd()}\n\n${block}\n`;
  writeFileSync(RESULTS_PATH, next);
}

/** Where and how a run happened, as the first lines of a section. */
export function runContext(command: string): string {
  const redisVersion = execFileSync('redis-server', ['--version']).toString().match(/v=(\S+)/)?.[1] ?? 'unknown';
  return [
    `- Date: ${new Date().toISOString()}`,
    `- Machine: nproc ${cpus().length}, ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, redis-server ${redisVersion}`,
    `- Command: \`${command}\``,
  ].join('\n');
}

/** A Markdown table. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}
