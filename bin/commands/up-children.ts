// Child processes of `hoard up`: start one, wait for its ready line, stop it within a bound.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { hoardBin } from '../../lib/root.js';

export interface Child {
  name: string;
  proc: ChildProcess;
  logFile: string;
  /** The JSON ready line the child printed. */
  ready: Record<string, unknown>;
  exited: Promise<number | null>;
}

async function logTail(file: string, lines = 15): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-lines).join('\n');
}

/**
 * Spawns `hoard <args>` with stderr (pino logs) going to logFile, and resolves with the first
 * stdout JSON line whose event is `event`. Rejects, with the log's tail, if the child exits first
 * or stays silent for timeoutMs.
 */
export async function startHoardChild(name: string, args: string[], logFile: string, event: string, timeoutMs: number): Promise<Child> {
  const log = createWriteStream(logFile, { flags: 'a' });
  await new Promise((ok) => log.once('open', ok));
  const proc = spawn(process.execPath, [hoardBin(), ...args], { stdio: ['ignore', 'pipe', log] });
  const exited = new Promise<number | null>((ok) => proc.once('exit', (code, signal) => ok(code ?? (signal ? 128 : null))));
  const lines = createInterface({ input: proc.stdout! });
  try {
    const ready = await new Promise<Record<string, unknown>>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`${name} printed no "${event}" line within ${timeoutMs / 1000} s`)), timeoutMs);
      lines.on('line', (line) => {
        try {
          const msg = JSON.parse(line) as Record<string, unknown>;
          if (msg.event === event) {
            clearTimeout(timer);
            ok(msg);
          }
        } catch {
          // Not a JSON line: ignore.
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        fail(new Error(`${name} exited (code ${code}) before it was ready`));
      });
    });
    return { name, proc, logFile, ready, exited };
  } catch (err) {
    proc.kill('SIGKILL');
    await exited;
    const tail = await logTail(logFile);
    throw new Error(`${(err as Error).message}; last log lines (${logFile}):\n${tail}`);
  }
}

/** SIGTERM, then SIGKILL after graceMs; resolves once the child is gone. */
export async function stopChild(child: Child, graceMs: number): Promise<'clean' | 'killed'> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return 'clean';
  child.proc.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((ok) => (timer = setTimeout(() => ok('late'), graceMs)));
  const outcome = await Promise.race([child.exited.then(() => 'clean' as const), late]);
  clearTimeout(timer);
  if (outcome === 'clean') return 'clean';
  child.proc.kill('SIGKILL');
  await child.exited;
  return 'killed';
}
