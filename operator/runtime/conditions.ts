import type { Condition } from '../api/types.js';

export type ConditionInput = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/**
 * Set a condition, keeping lastTransitionTime when the status did not change (the Kubernetes
 * convention: the time says when it became true/false, not when we last looked).
 */
export function setCondition(conditions: Condition[] | undefined, input: ConditionInput, generation: number | undefined, now = new Date()): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === input.type);
  const prev = i >= 0 ? list[i] : undefined;
  const next: Condition = {
    ...input,
    lastTransitionTime: prev && prev.status === input.status ? prev.lastTransitionTime : now.toISOString().replace(/\.\d+Z$/, 'Z'),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

export function removeCondition(conditions: Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

export function getCondition(conditions: Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** Conditions whose status or reason changed between two lists (these deserve an Event). */
export function changedConditions(before: Condition[] | undefined, after: Condition[] | undefined): Condition[] {
  return (after ?? []).filter((c) => {
    const old = getCondition(before, c.type);
    return !old || old.status !== c.status || old.reason !== c.reason;
  });
}
