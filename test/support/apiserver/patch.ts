import { ApiError, badRequest } from './errors.js';

const isObject = (v: unknown): v is Record<string, any> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** RFC 7386 JSON merge patch: objects merge recursively, `null` deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, any> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * Strategic merge patch, simplified to a merge patch: lists are replaced rather than merged by key,
 * and the `$`-directives kubectl emits (`$setElementOrder/...`, `$retainKeys`, `$patch`) are dropped.
 */
export function strategicMergePatch(target: unknown, patch: unknown): unknown {
  return mergePatch(target, stripDirectives(patch));
}

function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: Record<string, any> = {};
  for (const [k, val] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(val);
  return out;
}

function decodePointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw badRequest(`json patch: path "${path}" must start with "/"`);
  return path.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function patchFailure(message: string): ApiError {
  return new ApiError(422, 'Invalid', message);
}

function parentOf(doc: any, tokens: string[], path: string): { parent: any; key: string } {
  let cur = doc;
  for (const t of tokens.slice(0, -1)) {
    cur = Array.isArray(cur) ? cur[Number(t)] : isObject(cur) ? cur[t] : undefined;
    if (cur === undefined) throw patchFailure(`jsonpatch: path "${path}": missing parent`);
  }
  return { parent: cur, key: tokens[tokens.length - 1] };
}

function getAt(doc: any, path: string): any {
  let cur = doc;
  for (const t of decodePointer(path)) {
    cur = Array.isArray(cur) ? cur[Number(t)] : isObject(cur) ? cur[t] : undefined;
    if (cur === undefined) throw patchFailure(`jsonpatch: path "${path}" does not exist`);
  }
  return cur;
}

function removeAt(doc: any, path: string): any {
  const { parent, key } = parentOf(doc, decodePointer(path), path);
  if (Array.isArray(parent)) {
    const i = Number(key);
    if (!(i >= 0 && i < parent.length)) throw patchFailure(`jsonpatch remove: index ${key} out of range at "${path}"`);
    return parent.splice(i, 1)[0];
  }
  if (!isObject(parent) || !(key in parent)) throw patchFailure(`jsonpatch remove operation does not apply: doc is missing path: "${path}"`);
  const old = parent[key];
  delete parent[key];
  return old;
}

function addAt(doc: any, path: string, value: unknown, replace: boolean): any {
  const tokens = decodePointer(path);
  if (tokens.length === 0) return structuredClone(value);
  const { parent, key } = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) {
    const i = key === '-' ? parent.length : Number(key);
    if (!(i >= 0 && i <= parent.length)) throw patchFailure(`jsonpatch: index ${key} out of range at "${path}"`);
    if (replace) parent[i] = structuredClone(value);
    else parent.splice(i, 0, structuredClone(value));
  } else if (isObject(parent)) {
    if (replace && !(key in parent)) throw patchFailure(`jsonpatch replace operation does not apply: doc is missing key: "${path}"`);
    parent[key] = structuredClone(value);
  } else throw patchFailure(`jsonpatch: parent of "${path}" is not a container`);
  return doc;
}

/** RFC 6902 JSON patch (add, remove, replace, move, copy, test). */
export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw badRequest('json patch body must be an array of operations');
  let doc: any = structuredClone(target);
  for (const op of ops) {
    if (!isObject(op) || typeof op.op !== 'string' || typeof op.path !== 'string') throw badRequest(`invalid json patch operation ${JSON.stringify(op)}: needs "op" and "path"`);
    switch (op.op) {
      case 'add':
        doc = addAt(doc, op.path, op.value, false);
        break;
      case 'replace':
        doc = addAt(doc, op.path, op.value, true);
        break;
      case 'remove':
        removeAt(doc, op.path);
        break;
      case 'move': {
        const v = removeAt(doc, String(op.from));
        doc = addAt(doc, op.path, v, false);
        break;
      }
      case 'copy':
        doc = addAt(doc, op.path, getAt(doc, String(op.from)), false);
        break;
      case 'test':
        if (JSON.stringify(getAt(doc, op.path)) !== JSON.stringify(op.value)) throw patchFailure(`testing value ${op.path} failed`);
        break;
      default:
        throw badRequest(`unknown json patch operation "${op.op}"`);
    }
  }
  return doc;
}
