// A restricted Python unpickler (protocols 0-5, the opcodes torch.save emits
// and the plain-data ones around them). It never runs code: a pickle may name
// a callable only through GLOBAL / STACK_GLOBAL / INST, and those names are
// looked up in the caller's table of allowed globals; any other name is refused
// with an error naming it (e.g. `os.system`). The table's entries are plain
// TypeScript functions that build data. Written by hand because no npm package
// offers an unpickler restricted this way; the semantics follow CPython's
// Lib/pickle.py (_Unpickler) and Lib/pickletools.py.
//
// Values: None -> null, bool -> boolean, int -> number (bigint past 2^53),
// float -> number, str -> string, bytes / bytearray -> Uint8Array, list -> array,
// tuple -> a frozen array, dict -> Map (insertion order kept, any key type),
// set / frozenset -> Set.

export class PickleError extends Error {}

/** A global the pickle named and the table allowed: called by REDUCE / NEWOBJ / INST / OBJ. */
export interface PickleGlobal {
  readonly kind: 'global';
  readonly name: string;
  /** Builds the value from the call's arguments. */
  call(args: readonly unknown[]): unknown;
  /** BUILD on a value this global made (e.g. an OrderedDict's attribute dict); absent: BUILD is refused. */
  build?(target: unknown, state: unknown): void;
}

export type AllowedGlobals = Record<string, Omit<PickleGlobal, 'kind' | 'name'>>;

export interface UnpickleOptions {
  /** "module.name" -> how to build it; every other global is refused. */
  globals: AllowedGlobals;
  /** PERSID / BINPERSID: the value for a persistent id (torch: storages); absent: refused. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Named in errors (a file, or file + entry). */
  where: string;
}

export interface UnpickleResult {
  value: unknown;
  /** Offset just past the STOP opcode (legacy torch files hold several pickles back to back). */
  end: number;
}

export function isTuple(v: unknown): v is readonly unknown[] {
  return Array.isArray(v) && Object.isFrozen(v);
}

function tuple(items: unknown[]): readonly unknown[] {
  return Object.freeze(items);
}

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (isTuple(v)) return 'a tuple';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Map) return 'a dict';
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'object' && (v as { kind?: unknown }).kind === 'global') return `the global ${(v as PickleGlobal).name}`;
  return typeof v;
}

/** Decodes one pickle starting at `offset` of `buf`. */
export function unpickle(buf: Uint8Array, offset: number, o: UnpickleOptions): UnpickleResult {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const text = new TextDecoder('utf-8', { fatal: true });
  let pos = offset;
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();
  const fail = (msg: string, at = pos): never => {
    throw new PickleError(`${o.where}: ${msg} (pickle byte ${at})`);
  };

  const need = (n: number): number => {
    if (!Number.isSafeInteger(n) || n < 0) fail(`bad length ${n}`);
    if (pos + n > buf.length) fail(`the file ends inside the pickle (needs ${n} more bytes, ${buf.length - pos} left): truncated?`);
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = () => view.getUint8(need(1));
  const u16 = () => view.getUint16(need(2), true);
  const i32 = () => view.getInt32(need(4), true);
  const u32 = () => view.getUint32(need(4), true);
  const u64 = (): number => {
    const v = view.getBigUint64(need(8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${v} is too large`);
    return Number(v);
  };
  const bytes = (n: number): Uint8Array => {
    const at = need(n);
    return buf.slice(at, at + n);
  };
  const utf8 = (n: number): string => {
    const at = need(n);
    try {
      return text.decode(buf.subarray(at, at + n));
    } catch {
      return fail('a string is not valid UTF-8', at);
    }
  };
  const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
  const line = (): string => {
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0) fail('the file ends inside a text opcode: truncated?');
    const s = latin1(buf.subarray(pos, nl));
    pos = nl + 1;
    return s;
  };
  const pop = (): unknown => {
    if (!stack.length) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (!stack.length) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = metastack.pop();
    if (!prev) fail('MARK missing');
    stack = prev!;
    return items;
  };
  const signedLE = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return Number.isSafeInteger(Number(v)) && BigInt(Number(v)) === v ? Number(v) : v;
  };
  const textInt = (s: string): number | bigint => {
    const t = s.trim().replace(/L$/, '');
    if (!/^[-+]?\d+$/.test(t)) fail(`bad integer ${JSON.stringify(s)}`);
    const v = BigInt(t);
    return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  };
  const global = (module: string, name: string, at: number): PickleGlobal => {
    const full = `${module}.${name}`;
    const g = Object.prototype.hasOwnProperty.call(o.globals, full) ? o.globals[full] : undefined;
    if (!g) fail(`refuses the global ${full}: only plain data and tensors are read from a checkpoint, never code`, at);
    return { kind: 'global', name: full, ...g! };
  };
  const call = (fn: unknown, args: unknown): unknown => {
    if (typeof fn !== 'object' || fn === null || (fn as { kind?: unknown }).kind !== 'global') fail(`cannot call ${describe(fn)}`);
    if (!Array.isArray(args)) fail(`the arguments of ${(fn as PickleGlobal).name} are ${describe(args)}, not a tuple`);
    const g = fn as PickleGlobal;
    try {
      const v = g.call(args as unknown[]);
      if (g.build && v !== null && typeof v === 'object') builders.set(v, g);
      return v;
    } catch (e) {
      if (e instanceof PickleError) throw e;
      return fail(`${g.name}: ${(e as Error).message}`);
    }
  };
  // Which global made an object, for BUILD.
  const builders = new WeakMap<object, PickleGlobal>();
  const setItem = (d: unknown, k: unknown, v: unknown) => {
    if (!(d instanceof Map)) fail(`SETITEM on ${describe(d)}`);
    (d as Map<unknown, unknown>).set(k, v);
  };
  const persistent = (pid: unknown): unknown => {
    if (!o.persistentLoad) fail('a persistent id outside a checkpoint');
    return o.persistentLoad!(pid);
  };

  for (;;) {
    const opAt = pos;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('pickle protocol above 5', opAt);
        break;
      case 0x95: // FRAME: a length hint only
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || metastack.length) fail(`STOP with ${stack.length} values on the stack`, opAt);
        return { value: stack[0], end: pos };
      case 0x28: // MARK
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        if (stack.length) stack.pop();
        else popMark();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x49: {
        // INT (text; "01"/"00" are protocol 0 booleans)
        const s = line();
        stack.push(s === '01' ? true : s === '00' ? false : textInt(s));
        break;
      }
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4c: // LONG (text)
        stack.push(textInt(line()));
        break;
      case 0x8a: // LONG1
        stack.push(signedLE(bytes(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = i32();
        if (n < 0) fail('negative LONG4 length', opAt);
        stack.push(signedLE(bytes(n)));
        break;
      }
      case 0x46: {
        // FLOAT (text)
        const v = Number(line());
        if (Number.isNaN(v)) fail('bad float', opAt);
        stack.push(v);
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        stack.push(view.getFloat64(need(8), false));
        break;
      case 0x53: {
        // STRING (text, quoted): Python 2 str, read as latin-1
        const s = line().trim();
        if (s.length < 2 || s[0] !== s[s.length - 1] || (s[0] !== "'" && s[0] !== '"')) fail('bad STRING', opAt);
        stack.push(s.slice(1, -1));
        break;
      }
      case 0x54: {
        // BINSTRING
        const n = i32();
        if (n < 0) fail('negative BINSTRING length', opAt);
        stack.push(latin1(bytes(n)));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1(bytes(u8())));
        break;
      case 0x58: // BINUNICODE
        stack.push(utf8(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8(u64()));
        break;
      case 0x56: // UNICODE (raw-unicode-escape text)
        stack.push(line().replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, a: string, b: string) => String.fromCodePoint(parseInt(a ?? b, 16))));
        break;
      case 0x42: // BINBYTES
        stack.push(bytes(u32()));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(bytes(u8()));
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(bytes(u64()));
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(tuple([]));
        break;
      case 0x74: {
        // TUPLE (popMark first: it replaces `stack`)
        const items = popMark();
        stack.push(tuple(items));
        break;
      }
      case 0x85: // TUPLE1
        stack.push(tuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push(tuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(tuple([pop(), b, c]));
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: {
        // LIST
        const items = popMark();
        stack.push(items);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l) || isTuple(l)) fail(`APPEND to ${describe(l)}`, opAt);
        (l as unknown[]).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const l = top();
        if (!Array.isArray(l) || isTuple(l)) fail(`APPENDS to ${describe(l)}`, opAt);
        for (const v of items) (l as unknown[]).push(v);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        if (items.length % 2) fail('DICT with an odd number of items', opAt);
        const d = new Map<unknown, unknown>();
        for (let i = 0; i < items.length; i += 2) d.set(items[i], items[i + 1]);
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItem(top(), k, v);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        if (items.length % 2) fail('SETITEMS with an odd number of items', opAt);
        const d = top();
        for (let i = 0; i < items.length; i += 2) setItem(d, items[i], items[i + 1]);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail(`ADDITEMS to ${describe(s)}`, opAt);
        for (const v of items) (s as Set<unknown>).add(v);
        break;
      }
      case 0x91: {
        // FROZENSET
        const items = popMark();
        stack.push(new Set(items));
        break;
      }
      case 0x63: {
        // GLOBAL (text "module\nname\n")
        const module = line();
        stack.push(global(module, line(), opAt));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings', opAt);
        stack.push(global(module as string, name as string, opAt));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        if (!(kwargs instanceof Map) || kwargs.size) fail('NEWOBJ_EX with keyword arguments', opAt);
        stack.push(call(pop(), args));
        break;
      }
      case 0x69: {
        // INST (text "module\nname\n", arguments since MARK)
        const module = line();
        const g = global(module, line(), opAt);
        const items = popMark();
        stack.push(call(g, tuple(items)));
        break;
      }
      case 0x6f: {
        // OBJ (class then arguments since MARK)
        const items = popMark();
        if (!items.length) fail('OBJ without a class', opAt);
        stack.push(call(items[0], tuple(items.slice(1))));
        break;
      }
      case 0x62: {
        // BUILD (__setstate__)
        const state = pop();
        const target = top();
        const g = target !== null && typeof target === 'object' ? builders.get(target) : undefined;
        if (!g?.build) fail(`BUILD (setting the state of an object) on ${describe(target)}`, opAt);
        try {
          g!.build!(target, state);
        } catch (e) {
          fail(`${g!.name}: ${(e as Error).message}`, opAt);
        }
        break;
      }
      case 0x50: // PERSID (text)
        stack.push(persistent(line()));
        break;
      case 0x51: // BINPERSID
        stack.push(persistent(pop()));
        break;
      case 0x67: {
        // GET (text)
        const k = Number(line());
        if (!memo.has(k)) fail(`memo key ${k} was never stored`, opAt);
        stack.push(memo.get(k));
        break;
      }
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) fail(`memo key ${k} was never stored`, opAt);
        stack.push(memo.get(k));
        break;
      }
      case 0x70: // PUT (text)
        memo.set(Number(line()), top());
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        return fail('refuses the copyreg extension registry (EXT opcodes name code by number)', opAt);
      case 0x97: // NEXT_BUFFER
      case 0x98: // READONLY_BUFFER
        return fail('refuses out-of-band buffers (protocol 5 NEXT_BUFFER / READONLY_BUFFER)', opAt);
      default:
        return fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')}: not a pickle, or corrupt`, opAt);
    }
  }
}
