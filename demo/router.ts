import { initTRPC, TRPCError } from '@trpc/server';
import * as z from 'zod';
import type { Session, SessionContext } from '../src/index.js';
import { findProduct, products } from './catalog.js';

const MAX_QUANTITY = 99;

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
type DemoSession = Session<typeof sessionSchema>;

const t = initTRPC.context<SessionContext<typeof sessionSchema>>().create();

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

/** What a change returns: the page redraws from it without another request. */
function pageView(session: DemoSession | null) {
  return { basket: basketView(session), whoami: whoamiView(session) };
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

  add: t.procedure.input(productInput).mutation(async ({ ctx, input }) => {
    const product = findProduct(input.productId);
    if (product === undefined) throw new TRPCError({ code: 'NOT_FOUND', message: `No product ${input.productId}` });
    return changeBasket(await ctx.session.start(), (items) =>
      items.some((item) => item.productId === product.id)
        ? items.map((item) => (item.productId === product.id ? { ...item, quantity: Math.min(MAX_QUANTITY, item.quantity + 1) } : item))
        : [...items, { productId: product.id, quantity: 1, unitPriceCents: product.priceCents }],
    );
  }),

  setQuantity: t.procedure
    .input(productInput.extend({ quantity: z.number().int().min(1).max(MAX_QUANTITY) }))
    .mutation(async ({ ctx, input }) =>
      changeBasket(await ctx.session.start(), (items) =>
        items.map((item) => (item.productId === input.productId ? { ...item, quantity: input.quantity } : item)),
      ),
    ),

  remove: t.procedure.input(productInput).mutation(async ({ ctx, input }) => {
    const session = await ctx.session.load();
    if (session === null) return pageView(null);
    return changeBasket(session, (items) => items.filter((item) => item.productId !== input.productId));
  }),

  /**
   * A pretend login: no password. What matters is `regenerate()`: the session gets a new ID (the old one
   * stops working, defeating session fixation) and keeps its basket.
   */
  login: t.procedure.input(z.object({ name: z.string().trim().min(1).max(40) })).mutation(async ({ ctx, input }) => {
    const session = await ctx.session.regenerate();
    session.data.put('userId', input.name);
    return pageView(session);
  }),

  /** Ends the session: the record is deleted and the cookie expired, so the basket goes with it. */
  logout: t.procedure.mutation(async ({ ctx }) => {
    await ctx.session.destroy();
    return pageView(null);
  }),
});

export type AppRouter = typeof appRouter;
