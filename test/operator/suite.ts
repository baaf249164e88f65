import type { KubeConfig } from '@kubernetes/client-node';
import type { RunningOperator } from '../../operator/manager.js';
import { getTestCluster, type TestCluster, type TestClusterOptions } from '../support/kube.js';
import { trackWorkerEndpoints, type WorkerEndpoints } from '../support/worker-endpoints.js';
import { deleteTestNamespace, installCrds, startSuiteOperator, testNamespace } from './harness.js';

/** What a suite file against the cluster's own worker pods runs on: set up and torn down in one place. */
export interface OperatorSuite {
  cluster: TestCluster;
  kc: KubeConfig;
  /** The file's own fresh namespace. */
  ns: string;
  endpoints: WorkerEndpoints;
  operator: RunningOperator;
  /** Deletes the namespace and everything in it, then stops the operator, the endpoint tracking and the cluster. */
  stop(): Promise<void>;
}

/**
 * The cluster (real worker pods on the emulator, or HOARD_TEST_KUBECONFIG's), the CRDs, a fresh
 * namespace named after `prefix`, the worker endpoints tracked in it and an operator scoped to
 * it. A failure part-way tears down what had started, so nothing is left behind.
 */
export async function startOperatorSuite(prefix: string, opts: TestClusterOptions = {}): Promise<OperatorSuite> {
  const cluster = await getTestCluster({ realWorkers: true, ...opts });
  const kc = cluster.kubeConfig;
  let ns: string | undefined;
  let endpoints: WorkerEndpoints | undefined;
  let operator: RunningOperator | undefined;
  const stop = async (): Promise<void> => {
    if (ns) await deleteTestNamespace(kc, ns);
    await operator?.stop();
    await endpoints?.stop();
    await cluster.stop();
  };
  try {
    await installCrds(kc);
    ns = await testNamespace(kc, prefix);
    endpoints = await trackWorkerEndpoints(cluster, ns);
    operator = startSuiteOperator(kc, ns, endpoints);
    return { cluster, kc, ns, endpoints, operator, stop };
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
}
