import { initTRPC, TRPCError } from '@trpc/server';
import * as z from 'zod';
import type { Session, SessionContext, SessionManager } from '../src/index.js';
import { findProduct, products } from './catalog.js';

const MAX_QUANTITY = 99;

/** Seconds a session lives unused: the cookie's lifespan, and the countdown of the page's session panel. */
export const SESSION_LIFESPAN = 7 * 24 * 60 * 60;

/** One basket line. The price is a snapshot taken when the product was added, as a checkout would honour. */
const basketItem = z.object({
  productId: z.string(),
  quantity: z.number().int().min(1).max(MAX_QUANTITY),
  unitPriceCents: z.number().int().nonnegative(),
});
type BasketItem = z.infer<typeof basketItem>;

/** Everything the demo keeps per browser: the basket, and who logged in. */
export const sessionSchema = z.object({
  basket: z.array(basketItem).max(50).default([]),
  userId: z.string().optional(),
});
/** Messages shown once, on the page after the action that set them: the greeting after login. */
export const flashSchema = z.object({ notice: z.string() });

type DemoSession = Session<typeof sessionSchema, typeof flashSchema>;

/** The demo's context: the session, the browser's User-Agent, and the manager's per-user operations. */
export type DemoContext = SessionContext<typeof sessionSchema, 'session', typeof flashSchema> & {
  userAgent: string | undefined;
  users: Pick<SessionManager<typeof sessionSchema, 'session', typeof flashSchema>, 'userSessions' | 'revokeOtherSessions'>;
};

const t = initTRPC.context<DemoContext>().create();

const productInput = z.object({ productId: z.string() });

/** The basket as the page shows it: names joined from the catalog, sums computed. */
function basketView(session: DemoSession | null) {
  const items = (session?.data.get('basket') ?? []).map((item) => ({
    ...item,
    name: findProduct(item.productId)?.name ?? item.productId,
    lineCents: item.quantity * item.unitPriceCents,
  }));
  return { items, totalCents: items.reduce((sum, item) => sum + item.lineCents, 0) };
}

/** Who the session belongs to, and enough of its ID to see it change (never the whole ID). */
function whoamiView(session: DemoSession | null) {
  return { userId: session?.data.get('userId') ?? null, sessionIdPrefix: session?.id.slice(0, 6) ?? null };
}

/**
 * The session as the server holds it, for the page's panel: the fields as stored, and when it expires if left
 * unused (its expiry is refreshed on use, at most once a minute).
 */
function sessionView(session: DemoSession | null) {
  if (session === null) return null;
  return {
    fields: session.data.all(),
    createdAt: session.meta.createdAt.toISOString(),
    expiresAt: new Date(session.meta.lastUsedAt.getTime() + SESSION_LIFESPAN * 1000).toISOString(),
  };
}

/** What a change returns: the page redraws from it without another request. */
function pageView(session: DemoSession | null) {
  return { basket: basketView(session), whoami: whoamiView(session), session: sessionView(session) };
}

/**
 * The session a change to an existing basket line applies to. Never a new one: a tab left open after its
 * session ended (logged out in another tab, expired) must not create an empty session by clicking "+".
 */
async function existingSession(ctx: DemoContext): Promise<DemoSession> {
  const session = await ctx.session.load();
  if (session === null) {
    throw new TRPCError({
      code: 'PRECONDITION_FAILED',
      message: 'This basket has ended (logged out in another tab, or expired). The page now shows the current one.',
    });
  }
  return session;
}

/**
 * Changes the basket with `update`, which reads, changes and writes the field atomically, so two tabs
 * changing quantities at once do not lose each other's change.
 */
async function changeBasket(session: DemoSession, change: (items: BasketItem[]) => BasketItem[]) {
  await session.data.update('basket', change);
  return pageView(session);
}

export const appRouter = t.router({
  products: t.procedure.query(() => products),

  /** Reading never creates a session: a first-time visitor costs no store write and gets no cookie. */
  basket: t.procedure.query(async ({ ctx }) => basketView(await ctx.session.load())),

  whoami: t.procedure.query(async ({ ctx }) => whoamiView(await ctx.session.load())),

  session: t.procedure.query(async ({ ctx }) => sessionView(await ctx.session.load())),

  /** The flash message, taken: it shows once, in one tab, however many ask. */
  notice: t.procedure.query(async ({ ctx }) => (await (await ctx.session.load())?.flash.take('notice')) ?? null),

  add: t.procedure.input(productInput).mutation(async ({ ctx, input }) => {
    const product = findProduct(input.productId);
    if (product === undefined) throw new TRPCError({ code: 'NOT_FOUND', message: `No product ${input.productId}` });
    return changeBasket(await ctx.session.start(), (items) =>
      items.some((item) => item.productId === product.id)
        ? items.map((item) => (item.productId === product.id ? { ...item, quantity: Math.min(MAX_QUANTITY, item.quantity + 1) } : item))
        : [...items, { productId: product.id, quantity: 1, unitPriceCents: product.priceCents }],
    );
  }),

  /**
   * Changes a line's quantity by `by` (+1 or -1), relative to what is stored, so two quick clicks on "+" add
   * two, whatever the page showed when it sent them. A quantity stays between 1 and 99; Remove takes a line out.
   */
  changeQuantity: t.procedure
    .input(productInput.extend({ by: z.union([z.literal(1), z.literal(-1)]) }))
    .mutation(async ({ ctx, input }) =>
      changeBasket(await existingSession(ctx), (items) =>
        items.map((item) =>
          item.productId === input.productId
            ? { ...item, quantity: Math.min(MAX_QUANTITY, Math.max(1, item.quantity + input.by)) }
            : item,
        ),
      ),
    ),

  remove: t.procedure
    .input(productInput)
    .mutation(async ({ ctx, input }) =>
      changeBasket(await existingSession(ctx), (items) => items.filter((item) => item.productId !== input.productId)),
    ),

  /**
   * A pretend login: no password. What matters is `regenerate()`: the session gets a new ID (the old one
   * stops working, defeating session fixation) and keeps its basket. "Remember me" keeps the session 30 days
   * unused; without it, the cookie ends with the browser. `bindUser` lists it under the user's devices,
   * recognised by its browser.
   */
  login: t.procedure
    .input(z.object({ name: z.string().trim().min(1, 'Type your name to log in.').max(40, 'A name has at most 40 characters.'), remember: z.boolean().default(false) }))
    .mutation(async ({ ctx, input }) => {
    const session = await ctx.session.regenerate({ lifespan: input.remember ? 30 * 24 * 3600 : 'browser' });
    session.data.put('userId', input.name);
    await session.bindUser(input.name, { device: { userAgent: ctx.userAgent?.slice(0, 512) } });
    session.flash.set('notice', `Welcome back, ${input.name}`);
    // Written before the answer, so the page's next request (a redirect, elsewhere) finds the greeting.
    await ctx.session.persist();
    return pageView(session);
  }),

  /** The logged-in user's devices ("this device" first among equals): never a session ID, only refs. */
  devices: t.procedure.query(async ({ ctx }) => {
    const session = await ctx.session.load();
    if (session?.userId == null) return [];
    const listed = await ctx.users.userSessions(session.userId, { current: session });
    return listed.map(({ ref, lastUsedAt, device, current }) => ({ ref, lastUsedAt: lastUsedAt.toISOString(), userAgent: device?.userAgent ?? null, current }));
  }),

  /** Ends every other session of the logged-in user; this one stays. Resolves to how many were ended. */
  logoutOtherDevices: t.procedure.mutation(async ({ ctx }) => ctx.users.revokeOtherSessions(await existingSession(ctx))),

  /** Ends the session: the record is deleted and the cookie expired, so the basket goes with it. */
  logout: t.procedure.mutation(async ({ ctx }) => {
    await ctx.session.destroy();
    return pageView(null);
  }),
});

export type AppRouter = typeof appRouter;
