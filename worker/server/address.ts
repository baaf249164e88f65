/** A listen address "HOST:PORT" (IPv6 as "[::1]:PORT"); port 0 picks a free port. */
export interface ListenAddress {
  host: string;
  port: number;
}

export function parseListen(raw: string, flag: string): ListenAddress {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(raw.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    throw new Error(`${flag}: "${raw}" is not HOST:PORT; use e.g. 0.0.0.0:9400, 127.0.0.1:0 (any free port) or [::]:9400`);
  }
  return { host: m[1], port };
}

export function formatAddress(host: string, port: number): string {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare.includes(':') ? `[${bare}]:${port}` : `${bare}:${port}`;
}
