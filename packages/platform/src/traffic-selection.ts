// Keep-alive follows the active color. A client of a Service (the gateway's
// upstream pools, a load generator, a browser) keeps its TCP connections open,
// and kube-proxy pins an established connection to the pod it chose: after a
// cutover, requests on connections opened before it would still reach the old
// color, for as long as the client keeps them. So a pod that its active Service
// no longer selects answers with `Connection: close`: after that response the
// client opens a new connection, and kube-proxy sends it to the color that is
// active now. The pod goes on serving whatever still reaches it (the preview
// Service's traffic, a request already on its way). It does not close idle
// connections itself: a client may be sending on one at that very moment, and
// that request would fail (a cutover under load measured one ECONNRESET and one
// 502 that way); an idle connection carries nothing until it is used, and then
// it is closed after that one response.
import type { FastifyInstance, FastifyBaseLogger as Logger } from 'fastify';
import { type BlueGreenEnv, followActiveColor } from './active-color.js';

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * selected: false while this pod's active Service selects the other color. lastRequestAt: when
     * the last request arrived (ms since the epoch), for the stop's lame-duck wait (lifecycle.ts).
     */
    traffic: { selected: boolean; lastRequestAt: number };
  }
}

/** Follows the active Service of a blue-green pod (no-op elsewhere); returns how to stop. */
export async function followTrafficSelection(
  app: FastifyInstance,
  env: BlueGreenEnv,
  logger: Logger,
): Promise<() => Promise<void>> {
  const follow = followActiveColor({ ...env, BLUEGREEN_CONSUMERS_CONFIGMAP: undefined }, logger);
  if (!follow) return async () => undefined;
  const log = logger.child({ component: 'traffic-selection' });
  await follow.source.follow((active) => {
    const selected = active === follow.color;
    if (selected === app.traffic.selected) return;
    app.traffic.selected = selected;
    log.info(
      { color: follow.color, activeColor: active },
      selected
        ? 'the active Service selects this color again: keep-alive as usual'
        : 'the active Service selects the other color: each connection closes after its next response',
    );
  }, 5000);
  return () => follow.source.stop();
}
