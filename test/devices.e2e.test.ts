import { initTRPC } from '@trpc/server';
import type { CreateHTTPContextOptions } from '@trpc/server/adapters/standalone';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as z from 'zod';
import { createSessionManager, SessionGoneError, type SessionError, type SessionEvent, type SessionStore } from '../src/index.js';
import { browser, serveStandalone, type Served } from './helpers/http.js';
import { useStores } from './helpers/request.js';
import { logFigures, scaled } from './reliability/support/figures.js';

const TRIES = scaled(150, 1_500);

const { stores } = useStores();

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const schema = z.object({ counter: z.number().int().default(0) });

/**
 * A "your devices" app over `store`. Every load refreshes the expiry (`touchAfter: 0`), so a plain read is a
 * touch. The procedures that act on a session load it and never start one: a request whose session was
 * revoked gets `null`, never a new anonymous session that could be mistaken for the old one.
 */
function devicesApp(store: SessionStore, errors: SessionError[], options: { maxSessionsPerUser?: number; onEvent?: (event: SessionEvent) => void } = {}) {
  const sessions = createSessionManager({ schema, store, touchAfter: 0, onError: (error) => errors.push(error), ...options });
  const createContext = (opts: CreateHTTPContextOptions) => ({
    ...sessions.createContext(opts),
    userAgent: opts.req.headers['user-agent'],
    ip: opts.req.socket.remoteAddress,
  });
  const t = initTRPC.context<typeof createContext>().create();
  const signedIn = t.procedure.use(async ({ ctx, next }) => {
    const session = await ctx.session.load();
    if (session?.userId == null) throw new Error('not signed in');
    return next({ ctx: { current: session, userId: session.userId } });
  });
  const router = t.router({
    signIn: t.procedure.input(z.object({ user: z.string(), label: z.string().optional() })).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.regenerate();
      await session.bindUser(input.user, { device: { label: input.label, userAgent: ctx.userAgent, ip: ctx.ip } });
      session.data.put('counter', 100);
      return session.ref;
    }),
    /** Binds with a device that is not one; answers with the error. */
    badDevice: t.procedure.input(z.unknown()).mutation(async ({ ctx, input }) => {
      const session = await ctx.session.start();
      try {
        await session.bindUser('someone', { device: input as never });
        return null;
      } catch (error) {
        return { name: (error as Error).name, message: (error as Error).message };
      }
    }),
    peek: t.procedure.query(async ({ ctx }) => {
      const session = await ctx.session.load();
      return session === null ? null : { userId: session.userId, counter: session.data.get('counter'), ref: session.ref };
    }),
    bump: t.procedure.mutation(async ({ ctx }) => {
      const session = await ctx.session.load();
      if (session === null) return null;
      session.data.put('counter', session.data.get('counter') + 1);
      await ctx.session.persist();
      return session.data.get('counter');
    }),
    regenerate: t.procedure.mutation(async ({ ctx }) => {
      if ((await ctx.session.load()) === null) return null;
      return (await ctx.session.regenerate()).ref;
    }),
    devices: signedIn.query(({ ctx }) => sessions.userSessions(ctx.userId, { current: ctx.current })),
    revokeDevice: signedIn.input(z.string()).mutation(({ ctx, input }) => sessions.revokeSession(ctx.userId, input)),
    logoutOthers: signedIn.mutation(({ ctx }) => sessions.revokeOtherSessions(ctx.current)),
  });
  return { sessions, router, createContext };
}

type DevicesRouter = ReturnType<typeof devicesApp>['router'];

describe.each(Object.keys(stores))('%s store', (storeName) => {
  let served: Served;
  let sessions: ReturnType<typeof devicesApp>['sessions'];
  const errors: SessionError[] = [];
  beforeAll(async () => {
    const app = devicesApp(stores[storeName]!(), errors);
    sessions = app.sessions;
    served = await serveStandalone(app.router, app.createContext);
  });
  afterAll(async () => {
    await served.close();
    await sessions.close();
  });

  /** A browser signed in as `user` on a device labelled `label`. */
  async function device(user: string, label?: string) {
    const made = browser<DevicesRouter>(served.url);
    const ref = await made.client.signIn.mutate({ user, ...(label === undefined ? {} : { label }) });
    return { ...made, ref };
  }

  test('bindUser records the device; userSessions lists it with the current one marked, and no IDs', async () => {
    const laptop = await device('ada', 'Work laptop');
    const phone = await device('ada');
    const listed = await laptop.client.devices.query();
    expect(listed.map(({ ref, current, device: info }) => ({ ref, current, info }))).toEqual(
      expect.arrayContaining([
        { ref: laptop.ref, current: true, info: { label: 'Work laptop', userAgent: 'node', ip: '127.0.0.1' } },
        { ref: phone.ref, current: false, info: { userAgent: 'node', ip: '127.0.0.1' } },
      ]),
    );
    expect(listed).toHaveLength(2);
    expect((await phone.client.devices.query()).find((entry) => entry.current)?.ref).toBe(phone.ref);
    const shown = JSON.stringify(listed);
    for (const { jar } of [laptop, phone]) expect(shown).not.toContain(jar.cookies.get('sid')!.slice(0, 12));
    // Called without `current`, no entry is current.
    expect((await sessions.userSessions('ada')).every((entry) => !entry.current)).toBe(true);
  });

  test('the device follows the session through regenerate()', async () => {
    const laptop = await device('bea', 'Kitchen tablet');
    const newRef = await laptop.client.regenerate.mutate();
    expect(newRef).not.toBe(laptop.ref);
    const [entry] = await laptop.client.devices.query();
    expect(entry).toMatchObject({ ref: newRef, current: true, device: { label: 'Kitchen tablet' } });
  });

  test('a device that is not strings within their limits is refused with a TypeError naming the part', async () => {
    const { client } = browser<DevicesRouter>(served.url);
    expect(await client.badDevice.mutate({ label: 'x'.repeat(101) })).toEqual({ name: 'TypeError', message: expect.stringContaining('device.label') });
    expect(await client.badDevice.mutate({ ip: 42 })).toEqual({ name: 'TypeError', message: expect.stringContaining('device.ip') });
    expect(await client.badDevice.mutate({ sessionId: 'abc' })).toEqual({ name: 'TypeError', message: expect.stringContaining('device.sessionId') });
    expect(await client.badDevice.mutate('phone')).toEqual({ name: 'TypeError', message: expect.stringContaining('device') });
    expect(await client.badDevice.mutate({ label: 'ok', userAgent: 'u'.repeat(512), ip: '::1' })).toBeNull();
  });

  test('revokeSession ends that device only; an unknown ref or another user ends nothing', async () => {
    const [laptop, phone, tablet] = [await device('cyd'), await device('cyd'), await device('cyd')];
    const stranger = await device('dot');
    expect(await laptop.client.revokeDevice.mutate(stranger.ref)).toBe(false);
    expect(await laptop.client.revokeDevice.mutate('not-a-ref')).toBe(false);
    expect(await laptop.client.revokeDevice.mutate(phone.ref)).toBe(true);
    expect(await phone.client.peek.query()).toBeNull();
    expect(await laptop.client.revokeDevice.mutate(phone.ref)).toBe(false);
    expect((await laptop.client.devices.query()).map((entry) => entry.ref).sort()).toEqual([laptop.ref, tablet.ref].sort());
    expect(await stranger.client.peek.query()).toMatchObject({ userId: 'dot' });
  });

  test('revokeOtherSessions ends every other device of the user and keeps the current one', async () => {
    const [laptop, phone, tablet] = [await device('eve'), await device('eve'), await device('eve')];
    const stranger = await device('fay');
    expect(await laptop.client.logoutOthers.mutate()).toBe(2);
    for (const other of [phone, tablet]) expect(await other.client.peek.query()).toBeNull();
    expect(await laptop.client.peek.query()).toMatchObject({ userId: 'eve', counter: 100 });
    expect((await laptop.client.devices.query()).map((entry) => entry.ref)).toEqual([laptop.ref]);
    expect(await stranger.client.peek.query()).toMatchObject({ userId: 'fay' });
    // A session that regenerated moments ago keeps its old entry (a moved mark): that is not another device.
    await laptop.client.regenerate.mutate();
    expect(await laptop.client.logoutOthers.mutate()).toBe(0);
    expect(await laptop.client.peek.query()).toMatchObject({ userId: 'eve' });
  });

  test('a ref listed before the device regenerated still ends it, at its new ID', async () => {
    const [laptop, phone] = [await device('gus'), await device('gus')];
    const newRef = await phone.client.regenerate.mutate();
    expect(newRef).not.toBe(phone.ref);
    expect(await laptop.client.revokeDevice.mutate(phone.ref)).toBe(true);
    expect(await phone.client.peek.query()).toBeNull();
    expect(await sessions.revokeUser('gus')).toBe(1);
    expect(await laptop.client.peek.query()).toBeNull();
  });

  test('a login past maxSessionsPerUser logs out the device used least recently, told as revoked', async () => {
    const events: SessionEvent[] = [];
    const app = devicesApp(stores[storeName]!(), errors, { maxSessionsPerUser: 2, onEvent: (event) => void events.push(event) });
    const capped = await serveStandalone(app.router, app.createContext);
    try {
      const signIn = async () => {
        const made = browser<DevicesRouter>(capped.url);
        return { ...made, ref: await made.client.signIn.mutate({ user: 'hal' }) };
      };
      const laptop = await signIn();
      await pause(5);
      const phone = await signIn();
      await pause(5);
      // Used after the phone signed in: every load refreshes the expiry here (touchAfter: 0).
      expect(await laptop.client.peek.query()).toMatchObject({ userId: 'hal' });
      await pause(5);
      const tablet = await signIn();
      expect(await phone.client.peek.query()).toBeNull();
      expect(await laptop.client.peek.query()).toMatchObject({ userId: 'hal' });
      expect((await tablet.client.devices.query()).map((entry) => entry.ref).sort()).toEqual([laptop.ref, tablet.ref].sort());
      expect(events.filter((event) => event.type === 'revoked')).toEqual([expect.objectContaining({ ref: phone.ref, userId: 'hal', reason: 'maxSessionsPerUser' })]);
      // A listing takes at most `limit`, the most recently used first (the tablet, which just listed them).
      expect((await app.sessions.userSessions('hal', { limit: 1 })).map((entry) => entry.ref)).toEqual([tablet.ref]);
      await expect(app.sessions.userSessions('hal', { limit: 0 })).rejects.toThrow(/userSessions `limit` must be a whole number from 1 to 1000/);
    } finally {
      await capped.close();
      await app.sessions.close();
    }
  });

  const operations = {
    write: (client: ReturnType<typeof browser<DevicesRouter>>['client']) => client.bump.mutate(),
    touch: (client: ReturnType<typeof browser<DevicesRouter>>['client']) => client.peek.query(),
    regenerate: (client: ReturnType<typeof browser<DevicesRouter>>['client']) => client.regenerate.mutate(),
  };

  for (const [operationName, operation] of Object.entries(operations)) {
    test(`revokeSession / revokeOtherSessions racing a ${operationName} of the revoked session: it never comes back`, async () => {
      errors.length = 0;
      const counts: Record<string, number> = { tries: 0, revived: 0, 'revoke ended nothing': 0 };
      const count = (outcome: string) => (counts[outcome] = (counts[outcome] ?? 0) + 1);
      for (let attempt = 0; attempt < TRIES; attempt++) {
        counts['tries']!++;
        const user = `racer-${operationName}-${attempt}`;
        const revoker = await device(user);
        const victim = await device(user);
        const oldCookie = victim.jar.cookies.get('sid')!;
        const byRef = attempt % 2 === 0;
        const revoke = (async () => {
          await pause(Math.random() * 4);
          return byRef ? Number(await revoker.client.revokeDevice.mutate(victim.ref)) : revoker.client.logoutOthers.mutate();
        })();
        const other = (async () => {
          await pause(Math.random() * 4);
          return operation(victim.client).then(
            (result) => (result === null ? 'found no session' : 'done'),
            (error: unknown) => {
              if (error instanceof Error && /was destroyed, moved to a new ID or expired/.test(error.message)) return 'refused';
              throw error;
            },
          );
        })();
        const [ended, outcome] = await Promise.all([revoke, other]);
        if (ended !== 1) count('revoke ended nothing');
        count(`${byRef ? 'revokeSession' : 'revokeOtherSessions'}, ${operationName} ${outcome}`);
        // After both: neither the old cookie nor the one the victim holds now (a regenerated one) opens anything.
        const withOld = await fetch(`${served.url}/peek`, { headers: { cookie: `sid=${oldCookie}` } }).then((response) => response.json());
        const withCurrent = await victim.client.peek.query();
        const listed = await revoker.client.devices.query();
        if (withOld.result.data !== null || withCurrent !== null || listed.length !== 1) count('revived');
        expect(await revoker.client.peek.query()).toMatchObject({ userId: user });
      }
      logFigures(`revoke racing a ${operationName} (${storeName})`, counts);
      expect(counts['revived']).toBe(0);
      expect(counts['revoke ended nothing']).toBe(0);
      // A write that lost the race is refused after the response: reported, as a write to a session that is gone.
      expect(errors.filter((error) => !(error instanceof SessionGoneError))).toEqual([]);
    }, 120_000);
  }
});
