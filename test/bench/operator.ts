// Operator scale benchmark: 200 Datasets to Bound on the API-server emulator, with `hoard operator`
// as a child process so its memory is its own. Prints elapsed time and the operator's RSS.
// Targets (issue): <= 30 s, <= 200 MB.
import { readFileSync } from 'node:fs';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { startApiServer } from '../support/apiserver/index.js';
import { ensureNamespace, GVR, installCrds } from '../operator/harness.js';
import { spawnOperator } from '../operator/process.js';

const COUNT = Number(process.env.HOARD_BENCH_DATASETS ?? 200);
const NS = 'bench';

function rssMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function main(): Promise<void> {
  const api = await startApiServer({ kubelet: true });
  const custom = api.kubeConfig.makeApiClient(CustomObjectsApi);
  await installCrds(api.kubeConfig);
  await ensureNamespace(api.kubeConfig, NS);
  const op = await spawnOperator(api.kubeconfigPath, ['--lease-namespace', NS, '--concurrency', '16']);
  const pid = op.child.pid!;
  const start = Date.now();
  for (let i = 0; i < COUNT; i++) {
    const name = `ds-${i}`;
    await custom.createNamespacedCustomObject({ ...GVR('datasets', NS), body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'Dataset', metadata: { name, namespace: NS }, spec: { mounts: [{ name: 'a', uri: `file:///srv/data/${i}` }] } } });
    await custom.createNamespacedCustomObject({ ...GVR('cacheruntimes', NS), body: { apiVersion: 'data.hoard.dev/v1alpha1', kind: 'CacheRuntime', metadata: { name, namespace: NS }, spec: { replicas: 2, tieredStore: { levels: [{ medium: 'MEM', quota: '1Gi' }] } } } });
  }
  const created = Date.now();
  let bound = 0;
  let peak = 0;
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    bound = api.objects.list('data.hoard.dev/v1alpha1', 'Dataset', NS).filter((d) => d.status?.phase === 'Bound').length;
    peak = Math.max(peak, rssMb(pid, 'VmRSS'));
    if (bound === COUNT) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const elapsed = (Date.now() - start) / 1000;
  const hwm = rssMb(pid, 'VmHWM');
  await op.kill('SIGTERM');
  await api.stop();
  const result = {
    datasets: COUNT,
    bound,
    createSeconds: Number(((created - start) / 1000).toFixed(1)),
    allBoundSeconds: Number(elapsed.toFixed(1)),
    operatorPeakRssMb: Number(Math.max(peak, hwm).toFixed(0)),
    targets: { seconds: 30, rssMb: 200 },
    pass: bound === COUNT && elapsed <= 30 && Math.max(peak, hwm) <= 200,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(result.pass ? 0 : 1);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:operator: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
