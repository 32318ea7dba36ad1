import { describe, expect, it } from 'vitest';
import { policyFor, prefixesOf, ROUTES } from '../src/routes.js';

describe('route policy', () => {
  it('serves the catalogue and sign-in/sign-up without a token, nothing else', () => {
    const open: [string, string][] = [
      ['GET', '/api/v1/products'],
      ['GET', '/api/v1/products?limit=3&cursor=abc'],
      ['HEAD', '/api/v1/products/6a7d7b9e-5c1d-4f0a-8d2b-9e3f4a5b6c7d'],
      ['POST', '/api/v1/auth/login'],
      ['POST', '/api/v1/auth/register?next=/'],
    ];
    for (const [method, url] of open) expect(policyFor(method, url).public, `${method} ${url}`).toBe(true);
    const closed: [string, string][] = [
      ['POST', '/api/v1/products'],
      ['PATCH', '/api/v1/products/p1'],
      ['GET', '/api/v1/products/p1/stock'],
      ['GET', '/api/v1/products/'],
      ['GET', '/api/v1/auth/login'],
      ['POST', '/api/v1/auth/login/'],
      ['POST', '/api/v1/auth/logout'],
      ['POST', '/api/v1/auth/%6Cogin'],
      ['GET', '/api/v1/orders'],
      ['GET', '/api/v1/users/me'],
      ['GET', '/api/v1/notifications'],
      ['OPTIONS', '/api/v1/products'],
    ];
    for (const [method, url] of closed) expect(policyFor(method, url).public, `${method} ${url}`).toBe(false);
  });

  it('puts sign-in and sign-up in the strict bucket however the path is spelled', () => {
    for (const url of [
      '/api/v1/auth/login',
      '/api/v1/auth/register',
      '/api/v1/auth/%6Cogin',
      '/api/v1/auth//login',
      '/api/v1/auth/login/',
    ]) {
      expect(policyFor('POST', url).bucket, url).toBe('auth');
    }
    expect(policyFor('GET', '/api/v1/auth/login').bucket).toBe('api');
    expect(policyFor('POST', '/api/v1/auth/%zz').bucket).toBe('api');
    expect(policyFor('POST', '/api/v1/orders').bucket).toBe('api');
  });

  it('routes each prefix to one service', () => {
    expect(prefixesOf('users')).toEqual(['/api/v1/auth', '/api/v1/users']);
    expect(new Set(ROUTES.map((route) => route.prefix)).size).toBe(ROUTES.length);
  });
});
