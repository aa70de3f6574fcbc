// Streams a JSON file whose top level is an object of sections (a COCO
// instances file: info, licenses, images, annotations, categories) and hands
// over one array element at a time, so memory holds one element, never the
// whole file. Tokenising is stream-json's; this file only routes tokens.
import * as fs from 'fs';

import { MAX_JSON_DEPTH } from '../io/json_file';
import { CocoFormatError } from './coco_errors';

type Token = { name: string; value?: unknown };

export interface SectionHandlers {
  /** Sections whose value must be an array; each element is passed to onElement. */
  arrays: ReadonlySet<string>;
  /** Sections assembled whole (small ones such as `info`). */
  whole: ReadonlySet<string>;
  /** Keys dropped from array elements of a section without being assembled; reports the kind of value seen. */
  skipKeys?: Record<string, { key: string; onSkip: (kind: 'array' | 'object' | 'scalar') => void }>;
  onElement(section: string, index: number, value: unknown): void;
  onWhole(section: string, value: unknown): void;
  /** Top-level keys seen, in order. */
  onSection?(section: string): void;
}

export async function streamSections(file: string, h: SectionHandlers): Promise<void> {
  // stream-json is an ES module; this package compiles to CommonJS, so it is loaded with import().
  const { jsonParser } = await import('stream-json/parser.js');
  const { Assembler } = await import('stream-json/assembler.js');
  const { none, isMany, getManyValues } = await import('stream-chain/defs.js');
  // Packed tokens only: one token per key, string and number (streamed chunks would triple the count).
  const tokenize = jsonParser({ packValues: true, streamValues: false });

  let depth = 0; // nesting depth after the token being processed
  let section: string | null = null; // current top-level key
  let sectionMode: 'array' | 'whole' | 'skip' | null = null;
  let index = -1;
  let asm: InstanceType<typeof Assembler> | null = null;
  let skipDepth = 0; // >0 while skipping a value (depth to return to)
  let skipping = false;
  let pendingSkip: { onSkip: (kind: 'array' | 'object' | 'scalar') => void } | null = null;
  let seenTop = false;
  let skipKey: string | null = null;
  let skipCb: ((k: 'array' | 'object' | 'scalar') => void) | null = null;
  let field: string | null = null; // the key being read in an array element

  const fail = (where: string, problem: string): never => {
    throw new CocoFormatError(file, where, problem);
  };

  const onToken = (t: Token): void => {
    const name = t.name;
    const opens = name === 'startObject' || name === 'startArray';
    const closes = name === 'endObject' || name === 'endArray';

    if (!seenTop) {
      if (name !== 'startObject') fail('', 'the top level must be a JSON object with images, annotations and categories');
      seenTop = true;
      depth = 1;
      return;
    }
    // Values are assembled recursively (and printed in messages): a deeper one would overflow the stack.
    if (opens && !skipping && depth >= MAX_JSON_DEPTH)
      fail(sectionMode === 'array' && index >= 0 ? `${section}[${index}]${field ? `.${field}` : ''}` : section ?? '', `nested deeper than ${MAX_JSON_DEPTH} levels`);
    // Skipping a value (an unused top-level section or a skipped element key).
    if (skipping) {
      if (opens) depth++;
      else if (closes) depth--;
      if (depth === skipDepth) skipping = false;
      return;
    }
    if (depth === 1) {
      if (name === 'keyValue') {
        section = t.value as string;
        h.onSection?.(section);
        sectionMode = h.arrays.has(section) ? 'array' : h.whole.has(section) ? 'whole' : 'skip';
        return;
      }
      if (name === 'endObject') {
        depth = 0;
        return;
      }
      // The value of `section` starts here.
      if (sectionMode === 'skip') {
        if (opens) {
          skipping = true;
          skipDepth = 1;
          depth++;
        }
        return;
      }
      if (sectionMode === 'whole') {
        asm = new Assembler();
        asm.consume(t as never);
        if (opens) depth++;
        else {
          h.onWhole(section!, asm.current);
          asm = null;
        }
        return;
      }
      if (name !== 'startArray') fail(section!, `must be an array, got ${name.replace(/Value$|^start/, '').toLowerCase()}`);
      depth = 2;
      index = -1;
      const sk = h.skipKeys?.[section!];
      skipKey = sk ? sk.key : null;
      skipCb = sk ? sk.onSkip : null;
      return;
    }
    if (sectionMode === 'whole') {
      asm!.consume(t as never);
      if (opens) depth++;
      else if (closes) depth--;
      if (depth === 1) {
        h.onWhole(section!, asm!.current);
        asm = null;
      }
      return;
    }
    // Inside an array section.
    if (depth === 2) {
      if (name === 'endArray') {
        depth = 1;
        return;
      }
      index++;
      field = null;
      if (name !== 'startObject') fail(`${section}[${index}]`, `must be an object, got ${name.replace(/Value$|^start/, '').toLowerCase()}`);
      asm = new Assembler();
      asm.consume(t as never);
      depth = 3;
      return;
    }
    // Inside an element (depth >= 3).
    if (pendingSkip) {
      const cb = pendingSkip.onSkip;
      pendingSkip = null;
      if (opens) {
        cb(name === 'startArray' ? 'array' : 'object');
        skipping = true;
        skipDepth = depth;
        depth++;
      } else cb('scalar');
      return;
    }
    if (depth === 3 && name === 'keyValue') field = t.value as string;
    if (depth === 3 && name === 'keyValue' && skipKey !== null && t.value === skipKey) {
      pendingSkip = { onSkip: skipCb! };
      return;
    }
    asm!.consume(t as never);
    if (opens) depth++;
    else if (closes) depth--;
    if (depth === 2) {
      h.onElement(section!, index, asm!.current);
      asm = null;
    }
  };

  const stream = fs.createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 });
  let consumed = 0;
  let first = true;
  const feed = (chunk: string | typeof none): void => {
    let out: unknown;
    try {
      out = tokenize(chunk as string);
    } catch (e) {
      if (e instanceof CocoFormatError) throw e;
      if (chunk === none) fail('', 'the file ends before the JSON is complete (truncated?)');
      fail('', `not valid JSON within characters ${consumed}..${consumed + (chunk as string).length}: ${(e as Error).message}`);
    }
    if (out === none) return;
    if (isMany(out)) for (const t of getManyValues(out) as Token[]) onToken(t);
    else onToken(out as Token);
  };
  try {
    for await (const raw of stream) {
      let chunk = raw as string;
      if (first) {
        if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
        first = false;
      }
      feed(chunk);
      consumed += chunk.length;
    }
    feed(none);
  } catch (e) {
    stream.destroy();
    if (e instanceof CocoFormatError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') fail('', 'file not found');
    if (err.code === 'EISDIR') fail('', 'is a directory, not a JSON file');
    throw new CocoFormatError(file, '', err.message);
  }
  if (!seenTop) fail('', 'empty file (expected a JSON object)');
  if (depth !== 0) fail('', 'the file ends before the JSON is complete (truncated?)');
}
