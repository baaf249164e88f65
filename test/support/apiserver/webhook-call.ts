import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { ServiceRouteError, type ServiceRoutes } from './service-routes.js';

/**
 * A failure to get a usable answer from a webhook (webhookutil.ErrCallingWebhook): failurePolicy
 * decides whether it fails the request. `reason` reads like kube-apiserver's Go error text.
 */
export class CallingWebhookError extends Error {
  constructor(
    readonly webhook: string,
    readonly reason: string,
  ) {
    super(`failed calling webhook "${webhook}": ${reason}`);
  }
}

/** A webhook answers at most this much; more is not an AdmissionReview. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

const UNKNOWN_AUTHORITY = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
]);

/** Node's connection and TLS errors in the words of Go's net/http and crypto/x509. */
function goError(e: NodeJS.ErrnoException & { reason?: string; cert?: { subjectaltname?: string }; host?: string }, dialled: string, serverName: string): string {
  if (e instanceof ServiceRouteError) return e.message;
  if (e.code === 'ECONNREFUSED') return `dial tcp ${dialled}: connect: connection refused`;
  if (e.code === 'ECONNRESET') return 'EOF';
  if (e.code && UNKNOWN_AUTHORITY.has(e.code)) return 'tls: failed to verify certificate: x509: certificate signed by unknown authority';
  if (e.code === 'CERT_HAS_EXPIRED' || e.code === 'CERT_NOT_YET_VALID') return 'tls: failed to verify certificate: x509: certificate has expired or is not yet valid';
  if (e.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const names = (e.cert?.subjectaltname ?? '').split(/,\s*/).filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4));
    return names.length
      ? `tls: failed to verify certificate: x509: certificate is valid for ${names.join(', ')}, not ${serverName}`
      : `tls: failed to verify certificate: x509: certificate is not valid for any names, but wanted to match ${serverName}`;
  }
  return e.message;
}

/** What client-go's REST client says for a non-2xx answer that is not a Status (NewGenericServerResponse). */
function statusText(code: number, body: string): string {
  const generic: Record<number, string> = {
    400: 'the server rejected our request for an unknown reason',
    401: 'the server has asked for the client to provide credentials',
    403: 'the server does not allow access to the requested resource',
    404: 'the server could not find the requested resource',
    405: 'the server does not allow this method on the requested resource',
    409: 'the server reported a conflict',
    415: 'the server has rejected the request because it uses an unsupported media type',
    422: 'the server rejected our request due to an error in our request',
    429: 'the server has received too many requests and has asked us to try again later',
  };
  if (generic[code]) return generic[code];
  return `an error on the server (${JSON.stringify(body.trim() || 'unknown')}) has prevented the request from succeeding`;
}

export interface WebhookEndpoint {
  /** The URL as kube-apiserver forms it: https://<svc>.<ns>.svc:<port><path>, or clientConfig.url. */
  url: URL;
  /** For a Service: the namespace, name and port to resolve through the emulator's routes. */
  service?: { namespace: string; name: string; port: number };
  /** Go's spelling of the URL (the port always shown for a Service, a missing path left out), without the query. */
  display: string;
  /** PEM roots to trust (clientConfig.caBundle); the system roots when absent. */
  ca?: string;
}

/**
 * POST an AdmissionReview and return the decoded reply, as kube-apiserver's webhook client does:
 * the certificate must chain to the caBundle and name the URL's host (for a Service,
 * `<svc>.<ns>.svc`, whatever address the Service leads to); the timeout bounds the whole call.
 */
export function postReview(webhook: string, ep: WebhookEndpoint, review: unknown, timeoutMs: number, routes: ServiceRoutes): Promise<any> {
  const url = new URL(ep.url);
  url.searchParams.set('timeout', `${Math.ceil(timeoutMs / 1000)}s`);
  const where = `Post "${ep.display}${url.search}"`;
  const host = url.hostname;
  const port = Number(url.port || 443);
  return new Promise((resolve, reject) => {
    const fail = (reason: string) => reject(new CallingWebhookError(webhook, `failed to call webhook: ${reason}`));
    let dialled = `${host}:${port}`;
    let dialPort = port;
    let lookup: LookupFunction | undefined;
    if (ep.service) {
      let target;
      try {
        target = routes.resolve(ep.service.namespace, ep.service.name, ep.service.port);
      } catch (e) {
        return fail(`${where}: ${(e as Error).message}`);
      }
      // No route: like a Service without ready endpoints, the cluster IP refuses the connection.
      if (!target) return fail(`${where}: dial tcp ${host}:${port}: connect: connection refused`);
      dialled = `${target.host}:${target.port}`;
      dialPort = target.port;
      // Dial the route's address but keep the URL's host for SNI and certificate verification.
      lookup = (_h, opts, cb) => {
        const family = target.host.includes(':') ? 6 : 4;
        if ((opts as { all?: boolean }).all) (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: target.host, family }]);
        else cb(null, target.host, family);
      };
    }
    const body = JSON.stringify(review);
    const req = https.request(
      {
        protocol: 'https:',
        hostname: host,
        port: dialPort,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        servername: host,
        ...(ep.ca ? { ca: ep.ca } : {}),
        ...(lookup ? { lookup } : {}),
        agent: false,
        headers: { 'Content-Type': 'application/json', Accept: 'application/json, */*', 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) req.destroy(new Error(`response body larger than ${MAX_RESPONSE_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => {
          clearTimeout(deadline);
          const text = Buffer.concat(chunks).toString('utf8');
          const code = res.statusCode ?? 0;
          if (code < 200 || code > 299) {
            try {
              const status = JSON.parse(text);
              if (status?.kind === 'Status' && typeof status.message === 'string') return fail(status.message);
            } catch {
              // not a Status: the generic text below
            }
            return fail(statusText(code, text));
          }
          try {
            resolve(JSON.parse(text));
          } catch (e) {
            fail(`couldn't get version/kind; json parse error: ${(e as Error).message}`);
          }
        });
      },
    );
    // One deadline for connect, TLS, request and answer (the webhook's timeoutSeconds).
    const deadline = setTimeout(() => req.destroy(new Error('context deadline exceeded')), timeoutMs);
    req.on('error', (e) => {
      clearTimeout(deadline);
      fail(`${where}: ${goError(e, dialled, host)}`);
    });
    req.end(body);
  });
}
