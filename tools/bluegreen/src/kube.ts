// Connecting like kubectl: --kubeconfig, else $KUBECONFIG, else ~/.kube/config,
// else the in-cluster service account; --context, else the current context;
// --namespace, else the context's namespace (in a pod: its own), else default.
import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { BluegreenError, ExitCode, usageError } from './errors.js';

export interface KubeOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

export interface Kube {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  coordination: CoordinationV1Api;
  discovery: DiscoveryV1Api;
  namespace: string;
  server: string;
}

export function connect(options: KubeOptions): Kube {
  const kc = new KubeConfig();
  try {
    if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
    else kc.loadFromDefault();
  } catch (error) {
    throw usageError(
      `cannot load the kubeconfig${options.kubeconfig ? ` ${options.kubeconfig}` : ''}: ${(error as Error).message}`,
      'Point --kubeconfig or $KUBECONFIG at a valid file (for the local control plane: .run/k8s/kubeconfig).',
    );
  }
  if (options.context) {
    if (!kc.getContexts().some((c) => c.name === options.context)) {
      throw usageError(
        `context "${options.context}" is not in the kubeconfig`,
        `Known contexts: ${
          kc
            .getContexts()
            .map((c) => c.name)
            .join(', ') || '(none)'
        }.`,
      );
    }
    kc.setCurrentContext(options.context);
  }
  const cluster = kc.getCurrentCluster();
  // With no kubeconfig anywhere and no service account, the client falls back to
  // an unauthenticated http://localhost:8080, which fails later with a puzzling error.
  if (!options.kubeconfig && cluster?.name === 'cluster' && cluster.server === 'http://localhost:8080') {
    throw usageError(
      'no kubeconfig found: $KUBECONFIG is not set, there is no ~/.kube/config and this is not a pod',
      'Point --kubeconfig or $KUBECONFIG at one (for the local control plane: KUBECONFIG=.run/k8s/kubeconfig).',
    );
  }
  if (!cluster) {
    throw usageError(
      'no cluster to talk to: the kubeconfig has no current context and this is not a pod',
      'Set --kubeconfig / $KUBECONFIG, or --context.',
    );
  }
  const namespace = options.namespace || kc.getContextObject(kc.getCurrentContext())?.namespace || 'default';
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
    discovery: kc.makeApiClient(DiscoveryV1Api),
    namespace: namespace.trim(),
    server: cluster.server,
  };
}

export const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export function statusCode(error: unknown): number | undefined {
  if (error instanceof ApiException) return error.code;
  const code =
    (error as { code?: unknown; statusCode?: unknown }).statusCode ?? (error as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

export const isNotFound = (error: unknown): boolean => statusCode(error) === 404;
export const isConflict = (error: unknown): boolean => statusCode(error) === 409;
/** A JSON Patch whose `test` op failed answers 422. */
export const isInvalid = (error: unknown): boolean => statusCode(error) === 422;

/** The API server's own message, e.g. `deployments.apps "x" not found`. */
export function apiMessage(error: unknown): string {
  if (error instanceof ApiException) {
    const body = error.body as unknown;
    try {
      const parsed = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: string };
      if (parsed?.message) return parsed.message;
    } catch {
      // not JSON: fall through
    }
    return `HTTP ${error.code}`;
  }
  return (error as Error)?.message ?? String(error);
}

/** Turns a client error into one that says what happened and what to do. */
export function explainApiError(error: unknown, kube: Pick<Kube, 'server'>, doing: string): BluegreenError {
  if (error instanceof BluegreenError) return error;
  const code = statusCode(error);
  const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as { code?: unknown }).code;
  if (code === undefined && typeof cause === 'string') {
    return new BluegreenError(
      ExitCode.other,
      `cannot reach the API server at ${kube.server} while ${doing} (${cause})`,
      'Check that the cluster is up (locally: make k8s-up) and that --context / $KUBECONFIG point at it.',
    );
  }
  if (code === 401 || code === 403) {
    return new BluegreenError(
      ExitCode.other,
      `the API server refused ${doing}: ${apiMessage(error)}`,
      'Your credentials lack a permission the CLI needs (see tools/bluegreen/README.md, "Permissions").',
    );
  }
  return new BluegreenError(
    ExitCode.other,
    `${doing} failed: ${apiMessage(error)}`,
    'Run the command again; if it keeps failing, look at the API server.',
  );
}
