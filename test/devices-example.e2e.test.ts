import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import type { DevicesRouter } from '../examples/devices.js';
import { trpcClient, CookieJar } from './helpers/http.js';
import { freePort } from './helpers/redis-server.js';
import { useStores } from './helpers/request.js';

const root = resolve(import.meta.dirname, '..');
const { redis } = useStores();
const servers: ChildProcess[] = [];
afterAll(() => {
  for (const server of servers) server.kill();
});

/** Runs examples/devices.ts as the README shows it (tsx resolves `trpc-session` to the sources) and waits until it answers. */
async function serveExample(env: Record<string, string>): Promise<string> {
  const port = await freePort();
  const server = spawn(join(root, 'node_modules', '.bin', 'tsx'), ['examples/devices.ts'], {
    cwd: root,
    env: { ...process.env, PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  servers.push(server);
  let logs = '';
  server.stdout!.on('data', (chunk) => (logs += chunk));
  server.stderr!.on('data', (chunk) => (logs += chunk));
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    if (server.exitCode !== null) throw new Error(`examples/devices.ts exited with ${server.exitCode}:\n${logs}`);
    try {
      await fetch(url);
      return url;
    } catch {
      if (attempt > 600) throw new Error(`examples/devices.ts did not listen on ${url}:\n${logs}`);
      await new Promise((done) => setTimeout(done, 50));
    }
  }
}

test.each(['redis', 'memory'])('the README devices example on %s: list with current, log out one device, the others, everywhere', async (store) => {
  const url = await serveExample(store === 'redis' ? { REDIS_URL: redis().url } : {});
  const device = async (label?: string) => {
    const client = trpcClient<DevicesRouter>(url, new CookieJar());
    const ref = await client.login.mutate({ user: 'ada', ...(label === undefined ? {} : { device: label }) });
    return { client, ref };
  };
  const [laptop, phone, tablet, desk] = [await device('Laptop'), await device('Phone'), await device(), await device('Desk')];

  const listed = await laptop.client.devices.query();
  expect(listed.map((entry) => [entry.ref, entry.current, entry.device?.label])).toEqual(
    expect.arrayContaining([
      [laptop.ref, true, 'Laptop'],
      [phone.ref, false, 'Phone'],
      [tablet.ref, false, undefined],
      [desk.ref, false, 'Desk'],
    ]),
  );
  expect(listed).toHaveLength(4);
  expect(listed.every((entry) => entry.device?.userAgent === 'node' && entry.device.ip?.endsWith('127.0.0.1'))).toBe(true);

  expect(await laptop.client.logoutDevice.mutate(phone.ref)).toBe(true);
  await expect(phone.client.devices.query()).rejects.toThrow('UNAUTHORIZED');
  expect(await laptop.client.logoutOtherDevices.mutate()).toBe(2);
  await expect(tablet.client.devices.query()).rejects.toThrow('UNAUTHORIZED');
  expect((await laptop.client.devices.query()).map((entry) => entry.ref)).toEqual([laptop.ref]);
  expect(await laptop.client.logoutEverywhere.mutate()).toBe(1);
  await expect(laptop.client.devices.query()).rejects.toThrow('UNAUTHORIZED');
}, 60_000);
