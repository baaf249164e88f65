import { describe, expect, it } from 'vitest';
import { checkServerIdentity } from 'node:tls';
import { X509Certificate as Cert } from 'node:crypto';
import { defaultCertPolicy, planCerts, type CertPolicy } from '../operator/webhook/cert-plan.js';
import { createCa, createServingCert, dnsNamesOf, issuedBy, keyMatches, splitPem } from '../operator/webhook/certs.js';
import { serviceDnsNames } from '../operator/webhook/index.js';

const DAY = 24 * 3600_000;
const names = serviceDnsNames('hoard-webhook', 'hoard-system', 'cluster.local');
const policy = (over: Partial<CertPolicy> = {}): CertPolicy => ({ ...defaultCertPolicy(names), ...over });
const at = (iso: string) => new Date(iso);

describe('webhook certificates', () => {
  it('issues a CA and a serving certificate for every Service DNS name, signed by the CA, with a matching key', async () => {
    const now = at('2026-01-01T00:00:00Z');
    const ca = await createCa('hoard-webhook-ca', now, 10 * 365 * DAY);
    const serving = await createServingCert(ca, names, now, 365 * DAY);
    const caCert = new Cert(ca.cert);
    const cert = new Cert(serving.cert);
    expect(caCert.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(issuedBy(cert, caCert)).toBe(true);
    expect(keyMatches(cert, serving.key)).toBe(true);
    expect(keyMatches(cert, ca.key)).toBe(false);
    expect(dnsNamesOf(cert)).toEqual(names);
    expect(names).toContain('hoard-webhook.hoard-system.svc');
    expect(names).toContain('hoard-webhook.hoard-system.svc.cluster.local');
    for (const n of names) expect(checkServerIdentity(n, { subjectaltname: cert.subjectAltName!, subject: {} } as never)).toBeUndefined();
    expect(checkServerIdentity('other.hoard-system.svc', { subjectaltname: cert.subjectAltName!, subject: {} } as never)).toBeInstanceOf(Error);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // serverAuth only
    expect(new Date(cert.validTo).getTime() - now.getTime()).toBe(365 * DAY);
    // Never valid beyond its CA.
    const late = await createServingCert(ca, names, at('2035-06-01T00:00:00Z'), 365 * DAY);
    expect(new Date(new Cert(late.cert).validTo).getTime()).toBe(new Date(caCert.validTo).getTime());
  });

  it('creates everything when nothing is stored, and keeps it while valid', async () => {
    const t0 = at('2026-01-01T00:00:00Z');
    const first = await planCerts(undefined, policy(), t0);
    expect(first.changed).toBe(true);
    expect(splitPem(first.certs.caBundle)).toHaveLength(1);
    const again = await planCerts(first.certs, policy(), at('2026-06-01T00:00:00Z'));
    expect(again).toEqual({ changed: false, certs: first.certs });
  });

  it('renews the serving certificate at 80 % of its life under the same CA (caBundle unchanged)', async () => {
    const t0 = at('2026-01-01T00:00:00Z');
    const { certs } = await planCerts(undefined, policy(), t0);
    expect((await planCerts(certs, policy(), new Date(t0.getTime() + 290 * DAY))).changed).toBe(false);
    const renewed = await planCerts(certs, policy(), new Date(t0.getTime() + 293 * DAY));
    expect(renewed.changed && renewed.reason).toMatch(/serving certificate due for renewal/);
    expect(renewed.certs.caBundle).toBe(certs.caBundle);
    expect(renewed.certs.caKey).toBe(certs.caKey);
    expect(renewed.certs.cert).not.toBe(certs.cert);
    expect(issuedBy(new Cert(renewed.certs.cert), new Cert(certs.caBundle))).toBe(true);
  });

  it('renews the CA at 80 % and keeps the old one in the bundle until it expires; the serving certificate moves to the new CA only at its own renewal', async () => {
    const p = policy({ caValidityMs: 100 * DAY, servingValidityMs: 20 * DAY });
    const t0 = at('2026-01-01T00:00:00Z');
    const { certs: c0 } = await planCerts(undefined, p, t0);
    // Serving certificates are renewed along the way (checked every 17 days, due after 16); the CA stays.
    let c = c0;
    for (let d = 17; d <= 79; d += 17) c = (await planCerts(c, p, new Date(t0.getTime() + d * DAY))).certs;
    expect(c.cert).not.toBe(c0.cert);
    expect(c.caBundle).toBe(c0.caBundle);
    const oldCa = splitPem(c0.caBundle)[0]!;
    // Day 81 (after 80 % of the CA's 100 days): a new CA first in the bundle, the old one second.
    const rotated = await planCerts(c, p, new Date(t0.getTime() + 81 * DAY));
    expect(rotated.changed && rotated.reason).toMatch(/CA due for renewal/);
    const bundle = splitPem(rotated.certs.caBundle);
    expect(bundle).toHaveLength(2);
    expect(bundle[1]).toBe(oldCa);
    expect(rotated.certs.cert).toBe(c.cert); // still valid under the old CA, which stays trusted
    // At its own renewal time the serving certificate is issued by the new CA.
    const later = await planCerts(rotated.certs, p, new Date(t0.getTime() + 85 * DAY));
    expect(later.changed).toBe(true);
    expect(issuedBy(new Cert(later.certs.cert), new Cert(bundle[0]!))).toBe(true);
    // After the old CA expires it leaves the bundle.
    const dropped = await planCerts(later.certs, p, new Date(t0.getTime() + 101 * DAY));
    expect(splitPem(dropped.certs.caBundle)).toEqual([bundle[0]]);
  });

  it('reissues when the Service names change, the key does not match, or the Secret holds garbage', async () => {
    const t0 = at('2026-01-01T00:00:00Z');
    const { certs } = await planCerts(undefined, policy(), t0);
    const renamed = await planCerts(certs, policy({ dnsNames: serviceDnsNames('other', 'hoard-system', 'cluster.local') }), t0);
    expect(renamed.changed && renamed.reason).toMatch(/lacks other\.hoard-system\.svc/);
    expect(renamed.certs.caBundle).toBe(certs.caBundle);
    const otherKey = (await planCerts(undefined, policy(), t0)).certs.key;
    expect((await planCerts({ ...certs, key: otherKey }, policy(), t0)).changed).toBe(true);
    const garbage = await planCerts({ caBundle: 'x', caKey: 'y', cert: 'z', key: '' }, policy(), t0);
    expect(garbage.changed && garbage.reason).toMatch(/no usable CA/);
    expect(issuedBy(new Cert(garbage.certs.cert), new Cert(garbage.certs.caBundle))).toBe(true);
  });
});
