import { readdirSync, readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';

/**
 * A fenced code block of the README and the HTML comment just above it, which says how the suite checks it:
 * `<!-- example: examples/x.ts -->` (the block is that file, which the suite type-checks and runs),
 * `<!-- install -->` (test/package.test.ts checks that its consumer project, test/fixtures/consumer, installs every
 * package its `npm install` lines name, at locked versions), or
 * `<!-- not run: why -->` (a shell command or a fragment, excluded on purpose).
 */
export interface ReadmeBlock {
  /** 1-based line of the opening fence. */
  line: number;
  marker: string | undefined;
  code: string;
}

const ROOT = resolve(import.meta.dirname, '..', '..');
export const README = resolve(ROOT, 'README.md');

/**
 * The Markdown pages whose code blocks the suite checks, by their path in the repository: the README and every
 * page of the documentation site, but the API reference (docs/api), which typedoc generates from the TSDoc.
 */
export function documentationPages(): string[] {
  const site = (readdirSync(resolve(ROOT, 'docs'), { recursive: true }) as string[])
    .filter((path) => path.endsWith('.md') && !path.startsWith('api/') && !path.includes('node_modules') && !path.startsWith('.vitepress/'))
    .map((path) => relative(ROOT, resolve(ROOT, 'docs', path)));
  return ['README.md', ...site.sort()];
}

export function readmeBlocks(text = readFileSync(README, 'utf8')): ReadmeBlock[] {
  const lines = text.split('\n');
  const blocks: ReadmeBlock[] = [];
  for (let index = 0; index < lines.length; index++) {
    if (!lines[index]!.startsWith('```')) continue;
    const start = index;
    let above = start - 1;
    while (above >= 0 && lines[above]!.trim() === '') above--;
    const marker = /^<!-- (.+) -->$/.exec(lines[above]?.trim() ?? '')?.[1];
    do index++;
    while (index < lines.length && !lines[index]!.startsWith('```'));
    blocks.push({ line: start + 1, marker, code: lines.slice(start + 1, index).join('\n') + '\n' });
  }
  return blocks;
}

/** The packages the README's install block names, in order (`trpc-session` first). */
export function readmeInstallPackages(): string[] {
  return readmeBlocks()
    .filter((block) => block.marker === 'install')
    .flatMap((block) => block.code.split('\n'))
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line.startsWith('npm install '))
    .flatMap((line) => line.slice('npm install '.length).split(/\s+/))
    .filter((word) => word !== '' && !word.startsWith('-'));
}
