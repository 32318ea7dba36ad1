// The client's address for per-IP limits. Without trusted proxies in front it
// is the socket's peer; with N of them, each appends the address it saw to
// X-Forwarded-For, so the client is the Nth entry from the right and anything
// further left was written by the client itself and proves nothing.
export function clientIp(
  socketAddress: string,
  forwardedFor: string | string[] | undefined,
  trustedHops: number,
): string {
  if (trustedHops === 0 || forwardedFor === undefined) return socketAddress;
  const entries = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor)
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 0) return socketAddress;
  return entries[Math.max(0, entries.length - trustedHops)]!;
}
