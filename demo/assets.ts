import { readFile } from 'node:fs/promises';
import { build } from 'esbuild';

/** A file the page needs, ready to send. */
export interface Asset {
  contentType: string;
  body: Uint8Array;
}

const webDir = new URL('./web/', import.meta.url);

/**
 * Builds the page's files in memory: the client bundled by esbuild (tRPC's client included, nothing from a
 * CDN), the HTML and the CSS as they are. Done once at start-up; keyed by URL path.
 */
export async function buildAssets(): Promise<Map<string, Asset>> {
  const bundle = await build({
    entryPoints: [new URL('main.ts', webDir).pathname],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    logLevel: 'silent',
  });
  const [script] = bundle.outputFiles;
  if (script === undefined) throw new Error('esbuild produced no output for demo/web/main.ts');
  return new Map([
    ['/', { contentType: 'text/html; charset=utf-8', body: await readFile(new URL('index.html', webDir)) }],
    ['/style.css', { contentType: 'text/css; charset=utf-8', body: await readFile(new URL('style.css', webDir)) }],
    ['/app.js', { contentType: 'text/javascript; charset=utf-8', body: script.contents }],
  ]);
}
