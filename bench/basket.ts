/** A shopping basket as a shop keeps it in a session: a dozen lines, a user, a currency, a coupon. */
export function realisticBasket() {
  return {
    userId: 'user-4f1c2a9e',
    currency: 'EUR',
    coupon: 'SPRING-10',
    items: Array.from({ length: 12 }, (_, index) => ({
      productId: `sku-${String(10_000 + index * 37)}`,
      name: `Product number ${index + 1}, colour ${['red', 'green', 'blue'][index % 3]}`,
      quantity: 1 + (index % 4),
      unitPrice: 4.99 + index * 3.25,
      addedAt: 1_767_225_600_000 + index * 61_000,
    })),
  };
}
