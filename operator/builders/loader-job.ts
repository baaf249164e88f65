import type { V1CronJob, V1Job, V1JobSpec } from '@kubernetes/client-node';
import { parseSize } from '../../lib/units.js';
import type { DataLoad } from '../api/types.js';
import type { BuildContext } from './context.js';
import { labels, names } from './names.js';
import { controllerRef } from './owner.js';

export const DATALOAD_LABEL = 'data.hoard.dev/dataload';
export const TERMINATION_LOG = '/dev/termination-log';

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `hoard load` argv for a DataLoad: the workers are found by their SRV name, like every client. */
export function loaderArgs(dl: DataLoad, ctx: BuildContext): string[] {
  const { namespace } = dl.metadata;
  const args = ['load', '--workers-srv', names.srv(namespace, dl.spec.dataset.name, ctx.clusterDomain), '--json'];
  args.push('--concurrency', String(dl.spec.concurrency ?? 8));
  if (dl.spec.bandwidth !== undefined) args.push('--bandwidth', String(parseSize(dl.spec.bandwidth, 'spec.bandwidth')));
  args.push(...(dl.spec.paths ?? ['/']));
  return args;
}

/**
 * The loader streams JSON progress lines to its log and leaves the last one (the summary) in
 * the termination message, where the operator reads it without needing the pod log API.
 * POSIX sh has no pipefail, so the exit status travels through a file.
 */
export function loaderScript(args: string[]): string {
  const cmd = ['hoard', ...args].map(shellQuote).join(' ');
  return [
    `{ ${cmd}; echo $? > /tmp/hoard-load.rc; } | tee /tmp/hoard-load.jsonl`,
    `tail -n 1 /tmp/hoard-load.jsonl > ${TERMINATION_LOG}`,
    'exit "$(cat /tmp/hoard-load.rc)"',
  ].join('\n');
}

function jobSpec(dl: DataLoad, ctx: BuildContext): V1JobSpec {
  const podLabels = { ...labels(dl.spec.dataset.name, 'loader'), [DATALOAD_LABEL]: dl.metadata.name };
  return {
    backoffLimit: dl.spec.backoffLimit ?? 3,
    template: {
      metadata: { labels: podLabels },
      spec: {
        restartPolicy: 'Never',
        enableServiceLinks: false,
        containers: [
          {
            name: 'loader',
            image: ctx.image,
            imagePullPolicy: ctx.imagePullPolicy ?? 'IfNotPresent',
            command: ['/bin/sh', '-c', loaderScript(loaderArgs(dl, ctx))],
            terminationMessagePath: TERMINATION_LOG,
            terminationMessagePolicy: 'File',
            resources: { requests: { cpu: '100m', memory: '128Mi' } },
          },
        ],
      },
    },
  };
}

export function buildLoaderJob(dl: DataLoad, ctx: BuildContext): V1Job {
  const jobLabels = { ...labels(dl.spec.dataset.name, 'loader'), [DATALOAD_LABEL]: dl.metadata.name };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: names.loader(dl.metadata.name), namespace: dl.metadata.namespace, labels: jobLabels, ownerReferences: [controllerRef(dl)] },
    spec: jobSpec(dl, ctx),
  };
}

export function buildLoaderCronJob(dl: DataLoad, ctx: BuildContext): V1CronJob {
  const jobLabels = { ...labels(dl.spec.dataset.name, 'loader'), [DATALOAD_LABEL]: dl.metadata.name };
  if (!dl.spec.schedule) throw new Error('spec.schedule: required when spec.policy is Cron, e.g. "0 * * * *"');
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: names.loader(dl.metadata.name), namespace: dl.metadata.namespace, labels: jobLabels, ownerReferences: [controllerRef(dl)] },
    spec: {
      schedule: dl.spec.schedule,
      concurrencyPolicy: 'Forbid',
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: { metadata: { labels: jobLabels }, spec: jobSpec(dl, ctx) },
    },
  };
}
