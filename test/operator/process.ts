import { spawn, type ChildProcess } from 'node:child_process';
import { hoardBin } from '../../lib/root.js';

/** `hoard operator` as a child process (so it can be killed like a crashed pod). */
export interface OperatorProcess {
  child: ChildProcess;
  stderr(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function spawnOperator(kubeconfigPath: string, args: string[]): Promise<OperatorProcess> {
  const child = spawn('node', [hoardBin(), 'operator', '--kubeconfig', kubeconfigPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOARD_LOG_LEVEL: 'info' } });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`hoard operator did not start within 20 s: ${err}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('"started"')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`hoard operator exited (${code}): ${err}`)));
  });
  return {
    child,
    stderr: () => err,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
