import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { describeError } from '../kube/errors.js';
import { defaultCertPolicy, type CertPolicy } from './cert-plan.js';
import { CertSecretReconciler, type CertSecretOptions } from './cert-secret.js';
import { HoardVolumeResolver, kubeVolumeLookup } from './hoard-volumes.js';
import { MountPropagationMutator } from './mount-propagation.js';
import { reviewPod, type PodMutator } from './pipeline.js';
import { WebhookServer } from './server.js';

/** Namespace label that opts a namespace's pods in (the chart's namespaceSelector). */
export const INJECT_LABEL = 'data.hoard.dev/inject';
export const INJECT_ENABLED = 'enabled';

export interface WebhookOptions {
  kubeConfig: KubeConfig;
  port: number;
  host?: string;
  /** Where the Service, the Secret and this operator live. */
  namespace: string;
  serviceName: string;
  secretName: string;
  configName: string;
  clusterDomain: string;
  /** Only the leader writes the Secret and the caBundle; every replica serves. */
  isLeader(): boolean;
  /** How often the certificate is checked (and renewed by the leader). */
  certCheckIntervalMs?: number;
  /** Bound on the API reads behind one review (the configuration's timeoutSeconds is the hard limit). */
  lookupTimeoutMs?: number;
  policy?: Partial<CertPolicy>;
  mutators?: PodMutator[];
  event?: CertSecretOptions['event'];
  log: Logger;
}

export interface RunningWebhook {
  readonly server: WebhookServer;
  /** One certificate check now (what the timer runs). */
  checkNow(): Promise<void>;
  stop(): Promise<void>;
}

/** The Service's names a client may use; the serving certificate covers all of them. */
export function serviceDnsNames(service: string, namespace: string, clusterDomain: string): string[] {
  return [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.${clusterDomain}`, `${service}.${namespace}`, service];
}

/**
 * The mutating webhook: an HTTPS server running the pod mutators, and a certificate loop that
 * keeps it serving a certificate the API server trusts, without cert-manager and without restarts.
 */
export function startWebhook(o: WebhookOptions): RunningWebhook {
  const log = o.log;
  const interval = o.certCheckIntervalMs ?? 60_000;
  const checkTimeout = Math.max(30_000, interval);
  const resolver = new HoardVolumeResolver(kubeVolumeLookup(o.kubeConfig), { timeoutMs: o.lookupTimeoutMs ?? 3000 });
  const mutators = o.mutators ?? [new MountPropagationMutator(resolver)];
  const server = new WebhookServer({ port: o.port, host: o.host, log, handle: (req) => reviewPod(mutators, req, log) });
  const certs = new CertSecretReconciler(o.kubeConfig, {
    namespace: o.namespace,
    secretName: o.secretName,
    configName: o.configName,
    serviceName: o.serviceName,
    policy: { ...defaultCertPolicy(serviceDnsNames(o.serviceName, o.namespace, o.clusterDomain)), ...o.policy },
    log,
    event: o.event,
  });

  let served = '';
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const check = async () => {
    try {
      const current = o.isLeader() ? await certs.reconcile() : await certs.readCerts();
      if (current?.cert && current.key && current.cert !== served && !stopped) {
        await server.setCertificate(current.cert, current.key);
        if (served) log.info('webhook certificate reloaded');
        served = current.cert;
      } else if (!current && !o.isLeader()) {
        log.debug('webhook certificate not there yet; the leader creates it');
      }
    } catch (e) {
      log.warn({ err: describeError(e) }, 'webhook certificate check failed; retrying');
    }
  };
  // A check that hangs on the network must not stop renewals: the loop moves on after a bound.
  const bounded = () => {
    let t: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => {
      t = setTimeout(() => {
        log.warn({ afterMs: checkTimeout }, 'webhook certificate check did not finish; checking again');
        resolve();
      }, checkTimeout);
    });
    return Promise.race([check(), limit]).finally(() => clearTimeout(t));
  };
  const loop = () => {
    running = bounded().finally(() => {
      // Until a certificate is served, look again soon (a follower waits on the leader).
      if (!stopped) timer = setTimeout(loop, served ? interval : Math.min(interval, 2000));
    });
  };
  loop();

  return {
    server,
    checkNow: async () => {
      await running;
      await check();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
      await server.close();
    },
  };
}
