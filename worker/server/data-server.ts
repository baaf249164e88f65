import type { Socket } from 'node:net';
import type { DataReadContext } from './data-read.js';
import { DataSession } from './data-session.js';

/** Every data-protocol connection of one worker, so shutdown can drain or cut them together. */
export interface DataServer {
  accept(socket: Socket): void;
  /** Lets requests in flight finish, takes no new ones; resolves when every connection has closed. */
  drain(): Promise<void>;
  destroy(): void;
}

export function createDataServer(ctx: DataReadContext): DataServer {
  const sessions = new Set<DataSession>();
  let draining = false;
  return {
    accept(socket) {
      if (draining) {
        socket.destroy();
        return;
      }
      const s = new DataSession(socket, ctx);
      sessions.add(s);
      void s.closed.then(() => sessions.delete(s));
    },
    async drain() {
      draining = true;
      for (const s of sessions) s.drain();
      await Promise.all([...sessions].map((s) => s.closed));
    },
    destroy() {
      draining = true;
      for (const s of sessions) s.destroy();
    },
  };
}
