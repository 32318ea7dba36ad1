// The signed-in user's own account. The user comes from the service token the
// gateway minted after verifying the access token; a deleted account is 401
// even while an old access token of it is still unexpired.
import { problems, requireUser, type ShopServer } from '@shop/platform';
import { z } from 'zod';
import { deleteAccount, findLive } from '../accounts.js';
import type { PrismaClient } from '../db.js';
import { toView, userView } from '../domain/account.js';

const gone = () => problems.unauthorized('This account does not exist (any more).');
const problemsOfMe = { 401: 'The account of the access token does not exist (any more).' };

export function meRoutes(app: ShopServer, prisma: PrismaClient): void {
  app.get(
    '/api/v1/users/me',
    {
      schema: { tags: ['users'], summary: 'The signed-in user', response: { 200: userView } },
      config: { problems: problemsOfMe },
    },
    async (request) => {
      const user = await findLive(prisma, requireUser(request).id);
      if (!user) throw gone();
      return toView(user);
    },
  );

  app.delete(
    '/api/v1/users/me',
    {
      schema: {
        tags: ['users'],
        summary: 'Delete the signed-in user’s account',
        response: { 204: z.null().describe('The account is deleted.') },
      },
      config: { problems: problemsOfMe },
    },
    async (request, reply) => {
      if (!(await deleteAccount(prisma, requireUser(request).id))) throw gone();
      return reply.code(204).send(null);
    },
  );
}
