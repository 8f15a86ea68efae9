/** A product the shop sells. Prices are whole cents, so sums stay exact. */
export interface Product {
  id: string;
  name: string;
  description: string;
  priceCents: number;
}

/** The demo's whole shop. A real one would read this from its database. */
export const products: readonly Product[] = [
  { id: 'beans', name: 'Espresso beans', description: '1 kg, dark roast', priceCents: 1850 },
  { id: 'grinder', name: 'Hand grinder', description: 'Conical steel burrs', priceCents: 6400 },
  { id: 'kettle', name: 'Pour-over kettle', description: 'Gooseneck, 0.9 l', priceCents: 3990 },
  { id: 'mug', name: 'Stoneware mug', description: '300 ml, glazed', priceCents: 1200 },
  { id: 'filters', name: 'Paper filters', description: 'Pack of 100', priceCents: 450 },
];

export function findProduct(id: string): Product | undefined {
  return products.find((product) => product.id === id);
}
