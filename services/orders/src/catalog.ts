// Today's prices come from inventory over HTTP: placing an order needs the answer now.
import { Problem, type ServiceClient, UpstreamError } from '@shop/platform';
import type { CatalogProduct } from './domain/order.js';

export class Catalog {
  constructor(private readonly inventory: ServiceClient) {}

  async products(ids: string[]): Promise<CatalogProduct[]> {
    try {
      const response = await this.inventory.request<{ items: CatalogProduct[] }>({
        method: 'GET',
        path: `/api/v1/products?ids=${ids.map(encodeURIComponent).join(',')}`,
      });
      if (response.status !== 200) throw new Error(`inventory answered ${response.status}`);
      return response.body.items;
    } catch (error) {
      const why = error instanceof UpstreamError ? error.message : 'the catalogue gave an unexpected answer';
      throw new Problem(
        503,
        'catalogue-unavailable',
        `Prices cannot be checked right now (${why}); retry shortly.`,
        {
          headers: { 'retry-after': '2' },
        },
      );
    }
  }
}
