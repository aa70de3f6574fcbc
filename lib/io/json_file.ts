// JSON that users hand in (annotations, detections, configs), read in one place:
// a UTF-8 byte-order mark is accepted (Windows editors write one and JSON.parse
// refuses it), every error names the file, and nesting deeper than
// MAX_JSON_DEPTH is refused naming where: JSON.parse copes with any depth, but
// the code that validates, merges or prints a value recurses and would die with
// a bare "Maximum call stack size exceeded". The streaming COCO reader
// (lib/data/json_sections.ts) applies the same two rules to its tokens.
import * as fs from 'fs';

/** Far deeper than any COCO file or config (they nest 4 or 5 levels). */
export const MAX_JSON_DEPTH = 256;

export class JsonFileError extends Error {
  override name = 'JsonFileError';
}

export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** A path like `[0].bbox[0][0]` shortened for a message (a too-deep path has hundreds of steps). */
export function formatJsonPath(steps: readonly (string | number)[], keep = 8): string {
  const one = (s: string | number) => (typeof s === 'number' ? `[${s}]` : /^[A-Za-z_$][\w$]*$/.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`);
  const shown = steps.slice(0, keep).map(one).join('');
  const p = steps.length > keep ? `${shown}... (${steps.length} levels)` : shown;
  return p.startsWith('.') ? p.slice(1) : p || '(top level)';
}

/** The path to a container nested deeper than `max` levels, or null. Iterative: any depth is safe. */
export function findTooDeep(value: unknown, max = MAX_JSON_DEPTH): (string | number)[] | null {
  // Only containers are visited (a COCO file's numbers are most of it); the path
  // is rebuilt from parent links when one is too deep.
  interface Node {
    v: object;
    depth: number;
    parent: Node | null;
    key: string | number;
  }
  const isContainer = (v: unknown): v is object => v !== null && typeof v === 'object';
  if (!isContainer(value)) return null;
  const stack: Node[] = [{ v: value, depth: 0, parent: null, key: '' }];
  while (stack.length) {
    const n = stack.pop()!;
    if (n.depth >= max) {
      const path: (string | number)[] = [];
      for (let p: Node | null = n; p && p.parent; p = p.parent) path.push(p.key);
      return path.reverse();
    }
    if (Array.isArray(n.v)) {
      for (let i = 0; i < n.v.length; i++) if (isContainer(n.v[i])) stack.push({ v: n.v[i] as object, depth: n.depth + 1, parent: n, key: i });
    } else {
      for (const [k, c] of Object.entries(n.v)) if (isContainer(c)) stack.push({ v: c, depth: n.depth + 1, parent: n, key: k });
    }
  }
  return null;
}

/** Parses `text` read from `source` (a file name, or e.g. "w.safetensors: __metadata__.config"). */
export function parseJsonText(text: string, source: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(stripBom(text));
  } catch (e) {
    throw new JsonFileError(`${source}: not valid JSON (${(e as Error).message})`);
  }
  const deep = findTooDeep(value);
  if (deep) throw new JsonFileError(`${source}: ${formatJsonPath(deep)}: nested deeper than ${MAX_JSON_DEPTH} levels`);
  return value;
}

export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new JsonFileError(`${file}: cannot be read (${code === 'ENOENT' ? 'no such file' : (e as Error).message})`);
  }
  return parseJsonText(text, file);
}

/** A value as short JSON for an error message; never throws, whatever the value's depth or cycles. */
export function shortJson(v: unknown, max = 60): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    // Too deep or cyclic: String() would recurse just the same.
    s = Array.isArray(v) ? `an array of ${v.length}` : 'an object';
  }
  if (s === undefined) s = String(v);
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}
