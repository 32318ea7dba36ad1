// Keep-alive follows the active color. A client of a Service (the gateway's
// upstream pools, a load generator, a browser) keeps its TCP connections open,
// and kube-proxy pins an established connection to the pod it chose: after a
// cutover, requests on connections opened before it would still reach the old
// color, for as long as the client keeps them. So a pod that its active Service
// no longer selects answers with `Connection: close` and closes its idle
// connections: each client reconnects, through kube-proxy, to the color that is
// active now. The pod goes on serving whatever still reaches it (the preview
// Service's traffic, a request already on its way).
import type { FastifyInstance, FastifyBaseLogger as Logger } from 'fastify';
import { type BlueGreenEnv, followActiveColor } from './active-color.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** False while this pod's active Service selects the other color. */
    traffic: { selected: boolean };
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
    if (selected) {
      log.info({ color: follow.color }, 'the active Service selects this color again: keep-alive as usual');
    } else {
      log.info(
        { color: follow.color, activeColor: active },
        'the active Service selects the other color: closing keep-alive connections so clients move to it',
      );
      app.server.closeIdleConnections();
    }
  }, 5000);
  return () => follow.source.stop();
}
