// `--set key.path=value` overrides on a plain-data config. Values are parsed as
// JSON when they are JSON (numbers, booleans, null, arrays, objects) and kept as
// strings otherwise, so `--set train.batchSize=4 --set data.root=/data/coco` both
// do what they say. The schema validates the result afterwards.

import { findTooDeep, formatJsonPath, MAX_JSON_DEPTH } from '../io/json_file';

export type ConfigObject = Record<string, unknown>;

function parseValue(key: string, raw: string): unknown {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return raw;
  }
  // Merging and validating the config recurse into the value.
  const deep = findTooDeep(v);
  if (deep) throw new Error(`--set ${key}: the value at ${formatJsonPath(deep)} is nested deeper than ${MAX_JSON_DEPTH} levels`);
  return v;
}

const isPlainObject = (v: unknown): v is ConfigObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Returns a deep copy of `config` with each `key=value` applied in order. */
export function applyOverrides(config: ConfigObject, overrides: readonly string[]): ConfigObject {
  const out = structuredClone(config);
  for (const o of overrides) {
    const eq = o.indexOf('=');
    if (eq <= 0) throw new Error(`--set ${JSON.stringify(o)}: expected key=value, e.g. --set train.batchSize=4`);
    const key = o.slice(0, eq).trim();
    const path = key.split('.');
    if (path.some((p) => p === '' || p === '__proto__' || p === 'constructor' || p === 'prototype'))
      throw new Error(`--set ${key}: not a valid key path`);
    let node: ConfigObject = out;
    for (let i = 0; i < path.length - 1; i++) {
      const p = path[i]!;
      if (node[p] === undefined) node[p] = {};
      const next = node[p];
      if (!isPlainObject(next))
        throw new Error(`--set ${key}: '${path.slice(0, i + 1).join('.')}' is ${JSON.stringify(next)}, not a section that can hold '${path[i + 1]}'`);
      node = next;
    }
    node[path[path.length - 1]!] = parseValue(key, o.slice(eq + 1));
  }
  return out;
}

/** Deep merge for config layering (preset <- file <- overrides): objects merge, everything else replaces. */
export function mergeConfig(base: ConfigObject, over: ConfigObject): ConfigObject {
  const out = structuredClone(base);
  for (const [k, v] of Object.entries(over)) {
    const cur = out[k];
    out[k] = isPlainObject(cur) && isPlainObject(v) ? mergeConfig(cur, v) : structuredClone(v);
  }
  return out;
}
