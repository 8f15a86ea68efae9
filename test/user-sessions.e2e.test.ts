import { afterAll, beforeAll, beforeEach, expect, test } from 'vitest';
import { eventually, redisFixture, sessionCommands, type Fixture } from './helpers/fixture.js';
import { startRedis, type RedisServer } from './helpers/redis-server.js';

const userKey = (userId: string) => `session:user:{${userId}}`;

let redis: RedisServer;
let fx: Fixture;
/** Refreshes the expiry on every load. */
let eager: Fixture;
beforeAll(async () => {
  redis = await startRedis();
  fx = await redisFixture({}, {}, redis);
  eager = await redisFixture({ touchAfter: 0 }, {}, redis);
});
afterAll(async () => {
  await fx.close();
  await eager.close();
  await redis.stop(true);
});
beforeEach(() => {
  fx.errors.length = 0;
});

/** A browser that has been browsing anonymously, then signs in as `userId`; with its session ID and ref. */
async function signedIn(userId: string, app = fx) {
  const { client } = app.browser();
  await client.increment.mutate();
  const ref = await client.signIn.mutate(userId);
  const { id } = await client.read.query();
  return { client, id, ref };
}

test('signing in on two devices lists both under the user, by refs that are not their IDs', async () => {
  const [laptop, phone] = [await signedIn('alice'), await signedIn('alice')];
  const other = await signedIn('bob');
  expect(await laptop.client.whoami.query()).toEqual({ userId: 'alice', ref: laptop.ref });
  expect((await phone.client.read.query()).counter).toBe(1); // data kept through the sign-in

  const listed = await fx.sessions.userSessions('alice');
  expect(listed.map((entry) => entry.ref).sort()).toEqual([laptop.ref, phone.ref].sort());
  for (const entry of listed) {
    expect(entry.createdAt).toBeInstanceOf(Date);
    expect(entry.lastUsedAt.getTime()).toBeGreaterThanOrEqual(entry.createdAt.getTime());
  }
  const shown = JSON.stringify(listed);
  for (const { id } of [laptop, phone]) expect(shown).not.toContain(id.slice(0, 12));
  expect((await fx.sessions.userSessions('bob')).map((entry) => entry.ref)).toEqual([other.ref]);
  expect(fx.errors).toEqual([]);
});

test("revokeUser logs every device of the user out, and nobody else's", async () => {
  const devices = [await signedIn('carol'), await signedIn('carol')];
  const other = await signedIn('dave');
  expect(await fx.sessions.revokeUser('carol')).toBe(2);
  for (const { client } of devices) expect(await client.whoami.query()).toBeNull();
  expect(await other.client.whoami.query()).toEqual({ userId: 'dave', ref: other.ref });
  expect(await fx.sessions.userSessions('carol')).toEqual([]);
  expect(await fx.inspect.exists(userKey('carol'))).toBe(0);
  // A revoked device starts over as a new, unbound session.
  expect(await devices[0]!.client.increment.mutate()).toBe(1);
  expect((await devices[0]!.client.whoami.query())?.userId).toBeNull();
});

test('regenerate() keeps the binding under the new ID; the old ID stays in the index, unlisted, only while its moved mark lasts', async () => {
  const device = await signedIn('erin');
  const newId = await device.client.login.mutate('erin');
  expect(newId).not.toBe(device.id);
  const now = await device.client.whoami.query();
  expect(now).toMatchObject({ userId: 'erin' });
  expect(now!.ref).not.toBe(device.ref);
  expect((await fx.sessions.userSessions('erin')).map((entry) => entry.ref)).toEqual([now!.ref]);
  // The old entry leads a revoke by the ref listed before the move to the new ID (through the mark).
  expect((await fx.inspect.zrange(userKey('erin'), 0, -1)).sort()).toEqual([device.id, newId].sort());
  await fx.inspect.del(`session:${device.id}`); // the mark expiring
  await fx.sessions.userSessions('erin');
  expect(await fx.inspect.zrange(userKey('erin'), 0, -1)).toEqual([newId]);
  expect(await fx.sessions.revokeUser('erin')).toBe(1);
  expect(await device.client.whoami.query()).toBeNull();
});

test("destroy() takes the session out of its user's index", async () => {
  const [leaving, staying] = [await signedIn('frank'), await signedIn('frank')];
  await leaving.client.logout.mutate();
  expect((await fx.sessions.userSessions('frank')).map((entry) => entry.ref)).toEqual([staying.ref]);
  expect(await fx.inspect.zrange(userKey('frank'), 0, -1)).toEqual([staying.id]);
  await staying.client.logout.mutate();
  expect(await fx.inspect.exists(userKey('frank'))).toBe(0);
});

test('an expired session leaves the list and the index; the index outlives its last session', async () => {
  const [expiring, staying] = [await signedIn('grace'), await signedIn('grace')];
  await fx.inspect.pexpire(`session:${expiring.id}`, 1);
  await eventually(async () => expect(await fx.inspect.exists(`session:${expiring.id}`)).toBe(0));
  expect((await fx.sessions.userSessions('grace')).map((entry) => entry.ref)).toEqual([staying.ref]);
  expect(await fx.inspect.zrange(userKey('grace'), 0, -1)).toEqual([staying.id]);
  expect(await fx.inspect.pttl(userKey('grace'))).toBeGreaterThan(await fx.inspect.pttl(`session:${staying.id}`));
  expect(await fx.sessions.revokeUser('grace')).toBe(1);
});

test('a load that refreshes a bound session pushes back its index entry too; other loads are one HGETALL', async () => {
  const device = await signedIn('heidi', eager);
  const scoreBefore = Number(await eager.inspect.zscore(userKey('heidi'), device.id));
  await new Promise((resolve) => setTimeout(resolve, 20));
  await redis.resetStats();
  await device.client.whoami.query();
  expect(await sessionCommands(redis)).toMatchObject({ hgetall: 1, evalsha: 2, zadd: 1 }); // the load, its refresh, the index
  const scoreAfter = Number(await eager.inspect.zscore(userKey('heidi'), device.id));
  expect(scoreAfter).toBeGreaterThan(scoreBefore);
  const sessionTtl = await eager.inspect.pttl(`session:${device.id}`);
  expect(scoreAfter).toBeGreaterThanOrEqual(Date.now() + sessionTtl - 50);
  expect(await eager.inspect.pttl(userKey('heidi'))).toBeGreaterThan(sessionTtl);

  // With the default touchAfter, a bound session's load refreshes nothing and sends one command.
  const settled = await signedIn('heidi');
  await redis.resetStats();
  await settled.client.whoami.query();
  expect(await sessionCommands(redis)).toEqual({ hgetall: 1 });
});

test('a login within maxSessionsPerUser costs one command more than the binding: a count of the index (ZCOUNT)', async () => {
  const { client } = fx.browser();
  await client.increment.mutate();
  await redis.resetStats();
  await client.signIn.mutate('ivan');
  const stats = await sessionCommands(redis);
  expect(stats['zcount']).toBe(1);
  // Nothing over the cap: no session is looked for to end.
  expect(stats['zrangebyscore']).toBeUndefined();
  expect(fx.errors).toEqual([]);
});
