// Operator fixture cases: folders holding a manifest.json and .npy tensors (the
// format of /work/shared/fixtures/ops, described in its README). The folder
// searched is $CORNERNET_OPS_FIXTURES when set, else test/fixtures/ops, so
// another case set of the same format runs through the same tests.
import * as fs from 'fs';
import * as path from 'path';
import { packageRoot } from '../../lib/native';
import type { TensorData } from '../../lib/ops';
import { readNpy } from './npy';

export interface Tolerance {
  rtol: number;
  atol: number;
}

export interface TensorSpec {
  file: string;
  shape: number[];
  dtype: string;
}

export interface Manifest {
  op: string;
  params: Record<string, unknown>;
  inputs: Record<string, TensorSpec>;
  outputs: Record<string, TensorSpec>;
  notes: string[];
  suggested_tolerance: Record<string, Tolerance>;
}

export interface FixtureCase {
  /** The folder's path relative to the fixture root, e.g. "corner_pool_top_ties_2x2x6x5". */
  name: string;
  dir: string;
  manifest: Manifest;
}

export function opsFixtureRoot(): string {
  const env = process.env.CORNERNET_OPS_FIXTURES;
  return env && env !== '' ? path.resolve(env) : path.join(packageRoot, 'test', 'fixtures', 'ops');
}

function field<T>(obj: Record<string, unknown>, key: string, where: string, check: (v: unknown) => boolean, want: string): T {
  const v = obj[key];
  if (!check(v)) throw new Error(`fixtures: ${where}: field '${key}' must be ${want}, got ${JSON.stringify(v)}`);
  return v as T;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function tensorSpecs(obj: Record<string, unknown>, key: string, where: string): Record<string, TensorSpec> {
  const specs = field<Record<string, unknown>>(obj, key, where, isObject, 'an object');
  const out: Record<string, TensorSpec> = {};
  for (const [name, raw] of Object.entries(specs)) {
    const w = `${where}: ${key}.${name}`;
    if (!isObject(raw)) throw new Error(`fixtures: ${w} must be an object {file, shape, dtype}`);
    out[name] = {
      file: field<string>(raw, 'file', w, (v) => typeof v === 'string' && v !== '', 'a file name'),
      shape: field<number[]>(raw, 'shape', w, (v) => Array.isArray(v) && v.every((d) => Number.isInteger(d) && d >= 0), 'an array of non-negative integers'),
      dtype: field<string>(raw, 'dtype', w, (v) => v === 'float32', "'float32'"),
    };
  }
  return out;
}

function tolerances(obj: Record<string, unknown>, where: string): Record<string, Tolerance> {
  const raw = obj.suggested_tolerance ?? {};
  if (!isObject(raw)) throw new Error(`fixtures: ${where}: field 'suggested_tolerance' must be an object`);
  const out: Record<string, Tolerance> = {};
  for (const [k, t] of Object.entries(raw)) {
    const w = `${where}: suggested_tolerance.${k}`;
    if (!isObject(t)) throw new Error(`fixtures: ${w} must be an object {rtol, atol}`);
    const num = (v: unknown) => typeof v === 'number' && v >= 0 && Number.isFinite(v);
    out[k] = { rtol: field<number>(t, 'rtol', w, num, 'a non-negative number'), atol: field<number>(t, 'atol', w, num, 'a non-negative number') };
  }
  return out;
}

export function readManifest(file: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`fixtures: cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isObject(raw)) throw new Error(`fixtures: ${file} must hold a JSON object`);
  return {
    op: field<string>(raw, 'op', file, (v) => typeof v === 'string' && v !== '', 'an op name'),
    params: raw.params === undefined ? {} : field<Record<string, unknown>>(raw, 'params', file, isObject, 'an object'),
    inputs: tensorSpecs(raw, 'inputs', file),
    outputs: tensorSpecs(raw, 'outputs', file),
    notes: Array.isArray(raw.notes) ? raw.notes.map(String) : [],
    suggested_tolerance: tolerances(raw, file),
  };
}

/** Every case folder under `root` (a folder with a manifest.json), sorted by name. */
export function discoverCases(root: string = opsFixtureRoot()): FixtureCase[] {
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory())
    throw new Error(`fixtures: ${root} is not a folder (set CORNERNET_OPS_FIXTURES to a folder of case folders)`);
  const found: FixtureCase[] = [];
  const walk = (dir: string) => {
    const manifest = path.join(dir, 'manifest.json');
    if (fs.existsSync(manifest)) {
      found.push({ name: path.relative(root, dir) || path.basename(dir), dir, manifest: readManifest(manifest) });
      return; // a case folder's own files are its data, not more cases
    }
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(dir, e.name));
  };
  walk(root);
  return found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** A tensor named in the manifest's inputs or outputs, checked against the declared shape. */
export function loadTensor(c: FixtureCase, kind: 'inputs' | 'outputs', name: string): TensorData {
  const spec = c.manifest[kind][name];
  if (!spec) throw new Error(`fixtures: ${c.name}: manifest has no ${kind}.${name}`);
  const t = readNpy(path.join(c.dir, spec.file));
  if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i]))
    throw new Error(`fixtures: ${c.name}: ${spec.file} has shape [${t.shape.join(',')}], manifest says [${spec.shape.join(',')}]`);
  return t;
}

/** The suggested tolerance for an output: its own entry, else "all"; an error when neither exists. */
export function toleranceFor(c: FixtureCase, output: string): Tolerance {
  const t = c.manifest.suggested_tolerance[output] ?? c.manifest.suggested_tolerance.all;
  if (!t) throw new Error(`fixtures: ${c.name}: suggested_tolerance has neither '${output}' nor 'all'`);
  return t;
}

export function param<T>(c: FixtureCase, key: string, check: (v: unknown) => boolean, want: string): T {
  return field<T>(c.manifest.params, key, `${c.name}: params`, check, want);
}
