import { pino, type Logger } from 'pino';

/** Every process logs pino JSON to stderr (stdout stays free for command output). */
export function createLogger(component: string, level = process.env.HOARD_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      level,
      base: { component, pid: process.pid },
      // Secrets must never reach logs, even by accident through a logged options object.
      redact: {
        paths: ['*.secretAccessKey', '*.accessKeyId', '*.sessionToken', '*.password', '*.secrets', 'secrets', 'credentials'],
        censor: '[redacted]',
      },
    },
    pino.destination(2),
  );
}
export type { Logger };
