// What a request carries across awaits without being passed by hand: its id and,
// when the caller acts for a user, that user. The HTTP client reads both to
// propagate them downstream.
import { requestContext } from '@fastify/request-context';

export interface ActingUser {
  id: string;
  role: 'customer' | 'admin';
}

declare module '@fastify/request-context' {
  interface RequestContextData {
    requestId?: string;
    user?: ActingUser;
  }
}

export function currentRequestId(): string | undefined {
  return requestContext.get('requestId');
}

export function currentUser(): ActingUser | undefined {
  return requestContext.get('user');
}

export function setCurrentUser(user: ActingUser): void {
  requestContext.set('user', user);
}
