import type { cookies, headers } from 'next/headers.js';
import { expectTypeOf, test } from 'vitest';
import * as z from 'zod';
import { createSessionManager, memoryStore, type SessionContext, type SessionHandle } from '../src/index.js';
import { nextActionContext, nextRenderContext, type NextCookieStore, type NextHeaders } from '../src/adapters/next.js';

const schema = z.object({ n: z.number().default(0) });
const sessions = createSessionManager({ schema, store: memoryStore(), cookie: { name: 'dmsession' } });

test("Next.js's cookie store and headers, as `await cookies()` and `await headers()` give them, are what the Next.js helpers take", () => {
  expectTypeOf<Awaited<ReturnType<typeof cookies>>>().toExtend<NextCookieStore>();
  expectTypeOf<Awaited<ReturnType<typeof headers>>>().toExtend<NextHeaders>();
  expectTypeOf(nextActionContext<typeof schema>).parameters.toEqualTypeOf<[typeof sessions, NextCookieStore, NextHeaders]>();
  expectTypeOf(nextActionContext<typeof schema>).returns.toEqualTypeOf<SessionContext<typeof schema>>();
  expectTypeOf(nextRenderContext<typeof schema>).returns.toEqualTypeOf<SessionContext<typeof schema>>();
});

test('the manager names its cookie', () => {
  expectTypeOf(sessions.cookieName).toEqualTypeOf<string>();
  if (sessions.cookieName !== 'dmsession') throw new Error(`cookieName is ${sessions.cookieName}`);
});

test('with contextKey, the Next.js helpers put the handle under that key', () => {
  const basketSessions = createSessionManager({ schema, store: memoryStore(), contextKey: 'basket' });
  const action = (store: NextCookieStore) => nextActionContext(basketSessions, store, new Headers());
  const render = (store: NextCookieStore) => nextRenderContext(basketSessions, store);
  expectTypeOf(action).returns.toEqualTypeOf<SessionContext<typeof schema, 'basket'>>();
  expectTypeOf(render).returns.toEqualTypeOf<SessionContext<typeof schema, 'basket'>>();
  expectTypeOf(action).returns.toEqualTypeOf<{ basket: SessionHandle<typeof schema> }>();
});
