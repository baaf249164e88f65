import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { PeerCertificate } from 'node:tls';

/** Resolve every name to 127.0.0.1, so the client dials the test server by its Service DNS name. */
const loopback: LookupFunction = (_host, opts, cb) => {
  if ((opts as { all?: boolean }).all) (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(null, '127.0.0.1', 4);
};

export interface HttpsReply {
  status: number;
  body: any;
  peer: PeerCertificate;
}

/**
 * One HTTPS request the way the API server makes it: to `https://<host>:<port><path>`, trusting
 * only `ca` and checking the certificate against `host`. A certificate that does not verify or
 * does not name the host rejects the promise.
 */
export function httpsRequest(o: { host: string; port: number; ca: string; path?: string; method?: string; body?: string | Buffer; contentType?: string }): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        hostname: o.host,
        port: o.port,
        path: o.path ?? '/mutate-pods',
        method: o.method ?? 'POST',
        ca: o.ca,
        lookup: loopback,
        agent: false,
        headers: o.body === undefined ? {} : { 'Content-Type': o.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(o.body) },
      },
      (res) => {
        const peer = (res.socket as import('node:tls').TLSSocket).getPeerCertificate();
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // plain text
          }
          resolve({ status: res.statusCode ?? 0, body, peer });
        });
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.end(o.body);
  });
}

let uidCounter = 0;

/** An AdmissionReview for a pod CREATE, as kube-apiserver sends it. */
export function podReview(namespace: string, pod: Record<string, unknown>, over: Record<string, unknown> = {}): Record<string, any> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `0d8c2f5e-4b7a-4c3e-9a1b-${String(++uidCounter).padStart(12, '0')}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace,
      operation: 'CREATE',
      userInfo: { username: 'alice', groups: ['system:authenticated'] },
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'reader-', namespace }, ...pod },
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
      ...over,
    },
  };
}

/** The JSON patch of an AdmissionReview response (empty when none). */
export function decodePatch(review: any): any[] {
  const p = review?.response?.patch;
  return p ? JSON.parse(Buffer.from(p, 'base64').toString('utf8')) : [];
}
