import { notFound } from './errors.js';
import type { Registry } from './registry.js';
import { matchesLabelSelector } from './selectors.js';
import type { Store } from './store.js';
import type { KObject, ResourceType } from './types.js';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

/** What admission knows about one request (k8s.io/apiserver admission.Attributes). */
export interface AdmissionAttributes {
  rt: ResourceType;
  operation: Operation;
  /** '' for cluster-scoped objects; for a Namespace, its own name (as the real server sets it). */
  namespace: string;
  /** Empty on a CREATE with generateName: the name is generated after admission. */
  name: string;
  subresource: string;
  object?: KObject;
  oldObject?: KObject;
  dryRun: boolean;
}

/**
 * Resources admission webhooks are never called for, so a broken webhook cannot lock its own
 * configuration (k8s.io/apiserver webhook/predicates/rules IsExemptAdmissionConfigurationResource).
 */
const EXEMPT = new Set(['admissionregistration.k8s.io/mutatingwebhookconfigurations', 'admissionregistration.k8s.io/validatingwebhookconfigurations']);

export function isExempt(rt: ResourceType): boolean {
  return EXEMPT.has(`${rt.group}/${rt.plural}`);
}

/** "pods/status" -> ["pods", "status"]; "pods" -> ["pods", ""]. */
function splitResource(r: string): [string, string] {
  const i = r.indexOf('/');
  return i < 0 ? [r, ''] : [r.slice(0, i), r.slice(i + 1)];
}

/** One rule of webhooks[].rules (admissionregistration v1 RuleWithOperations), as rules.Matcher does it. */
export function ruleMatches(rule: any, a: AdmissionAttributes): boolean {
  const ops: string[] = rule.operations ?? [];
  if (!ops.includes('*') && !ops.includes(a.operation)) return false;
  const groups: string[] = rule.apiGroups ?? [];
  if (!groups.includes('*') && !groups.includes(a.rt.group)) return false;
  const versions: string[] = rule.apiVersions ?? [];
  if (!versions.includes('*') && !versions.includes(a.rt.version)) return false;
  // "*" is every resource but no subresource; "*/*" and "pods/*" take subresources too.
  const resourceOk = (rule.resources ?? []).some((r: string) => {
    const [res, sub] = splitResource(r);
    return (res === '*' || res === a.rt.plural) && (sub === '*' || sub === a.subresource);
  });
  if (!resourceOk) return false;
  const isNamespace = a.rt.group === '' && a.rt.plural === 'namespaces';
  switch (rule.scope ?? '*') {
    case '*':
      return true;
    case 'Namespaced':
      return !isNamespace && a.namespace !== '';
    case 'Cluster':
      return isNamespace || a.namespace === '';
    default:
      return false;
  }
}

/**
 * namespaceSelector: cluster-scoped objects (other than Namespaces) are never exempted; a
 * Namespace is matched by its own labels; anything else by its namespace's labels. A namespace
 * that does not exist is a 404, as on the real server.
 */
export function namespaceMatches(hook: any, a: AdmissionAttributes, store: Store, registry: Registry): boolean {
  const isNamespace = a.rt.group === '' && a.rt.plural === 'namespaces';
  if (a.namespace === '' && !isNamespace) return true;
  const sel = hook.namespaceSelector;
  if (!sel || (Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0)) return true;
  let labels: Record<string, string> | undefined;
  if (isNamespace && a.operation === 'CREATE') labels = a.object?.metadata.labels;
  else {
    const nsRt = registry.lookup('', 'v1', 'namespaces')!;
    const ns = store.tryGet(nsRt, undefined, a.namespace);
    if (!ns) throw notFound(nsRt, a.namespace);
    labels = ns.metadata.labels;
  }
  return matchesLabelSelector(sel, labels);
}

/** objectSelector: the new object's labels or the old one's (an UPDATE that removes a label still matches). */
export function objectMatches(hook: any, a: AdmissionAttributes): boolean {
  const sel = hook.objectSelector;
  const objs = [a.object, a.oldObject].filter((o): o is KObject => o !== undefined);
  return objs.some((o) => matchesLabelSelector(sel, o.metadata?.labels));
}

/** Whether a webhook is called for a request: selectors first, then the rules (ShouldCallHook). */
export function shouldCall(hook: any, a: AdmissionAttributes, store: Store, registry: Registry): boolean {
  let nsError: unknown;
  let nsOk = false;
  try {
    nsOk = namespaceMatches(hook, a, store, registry);
  } catch (e) {
    nsError = e;
  }
  if (!nsOk && nsError === undefined) return false;
  if (!objectMatches(hook, a)) return false;
  if (!(hook.rules ?? []).some((r: unknown) => ruleMatches(r, a))) return false;
  // A missing namespace fails only requests the webhook would otherwise have received.
  if (nsError !== undefined) throw nsError;
  return true;
}
