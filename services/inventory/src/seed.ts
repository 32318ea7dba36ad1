// Demo products for a fresh development stack. Idempotent: a product whose SKU
// exists is left alone (its stock included), so re-running `make dev` never
// resets what a developer changed.
import { createLogger, databaseEnv, failStartup, loadConfig } from '@shop/platform';
import { createDatabase } from './db.js';

const demoProducts = [
  {
    sku: 'MUG-CLASSIC',
    name: 'Classic mug',
    description: 'Stoneware, 350 ml.',
    priceCents: 1200,
    onHand: 200,
  },
  { sku: 'TEA-EARLGREY', name: 'Earl Grey, 100 g', description: 'Loose leaf.', priceCents: 650, onHand: 500 },
  {
    sku: 'KETTLE-STEEL',
    name: 'Stovetop kettle',
    description: 'Brushed steel, 1.5 l.',
    priceCents: 4500,
    onHand: 40,
  },
  {
    sku: 'POT-CERAMIC',
    name: 'Ceramic teapot',
    description: 'Holds four cups.',
    priceCents: 3200,
    onHand: 60,
  },
  { sku: 'STRAINER', name: 'Tea strainer', description: 'Fine mesh.', priceCents: 450, onHand: 300 },
  {
    sku: 'CUP-LIMITED',
    name: 'Limited edition cup',
    description: 'Only ten were made.',
    priceCents: 9900,
    onHand: 10,
  },
];

try {
  const { DATABASE_URL } = loadConfig(databaseEnv);
  const logger = createLogger({ name: 'inventory-seed' });
  const { database, prisma } = createDatabase(DATABASE_URL, 2);
  const result = await prisma.product.createMany({
    data: demoProducts.map((product) => ({ ...product, currency: 'EUR' })),
    skipDuplicates: true,
  });
  logger.info({ created: result.count, known: demoProducts.length - result.count }, 'demo products seeded');
  await prisma.$disconnect();
  await database.close();
} catch (error) {
  failStartup(error);
}
