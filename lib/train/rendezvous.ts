// torchrun-style rendezvous: ranks started with MASTER_ADDR, MASTER_PORT, RANK and
// WORLD_SIZE meet over TCP, and rank 0 hands every other rank one opaque 128-byte
// blob (the NCCL unique id, from which each rank then creates its communicator).
// Rank 0 listens on MASTER_PORT; every other rank opens one connection (retrying
// until the deadline, since rank 0 may start later) and sends a 16-byte hello
// (magic, rank, world size); once all WORLD_SIZE - 1 have said hello, rank 0 sends
// the blob on each connection and closes them. Written on node's `net` because
// this is the launcher's protocol, not a transport for tensors.
import * as net from 'net';

export const UNIQUE_ID_BYTES = 128;
const MAGIC = 0x434e5244; // "CNRD"
const HELLO_BYTES = 16;

export interface RendezvousOptions {
  masterAddr: string;
  masterPort: number;
  rank: number;
  worldSize: number;
  /** Rank 0 only: the blob every rank receives. */
  uniqueId?: Uint8Array;
  /** Give up after this long (default 300 s): a rank that never arrives is named. */
  timeoutMs?: number;
}

/** Every rank gets rank 0's 128-byte blob; rejects naming MASTER_ADDR:MASTER_PORT and the ranks that did not arrive. */
export function rendezvous(o: RendezvousOptions): Promise<Uint8Array> {
  const where = `MASTER_ADDR:MASTER_PORT ${o.masterAddr}:${o.masterPort}`;
  if (!Number.isInteger(o.worldSize) || o.worldSize < 1) return Promise.reject(new Error(`rendezvous: WORLD_SIZE must be a positive integer, got ${o.worldSize}`));
  if (!Number.isInteger(o.rank) || o.rank < 0 || o.rank >= o.worldSize)
    return Promise.reject(new Error(`rendezvous: RANK must be an integer in [0, ${o.worldSize - 1}] (WORLD_SIZE ${o.worldSize}), got ${o.rank}`));
  const timeoutMs = o.timeoutMs ?? 300_000;
  if (o.rank === 0) {
    if (!o.uniqueId || o.uniqueId.length !== UNIQUE_ID_BYTES)
      return Promise.reject(new Error(`rendezvous: rank 0 needs the ${UNIQUE_ID_BYTES}-byte unique id to hand out`));
    return serve(o.masterAddr, o.masterPort, o.worldSize, o.uniqueId, timeoutMs, where);
  }
  return join(o.masterAddr, o.masterPort, o.rank, o.worldSize, timeoutMs, where);
}

function serve(addr: string, port: number, worldSize: number, id: Uint8Array, timeoutMs: number, where: string): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const peers = new Map<number, net.Socket>();
    let settled = false;
    const finish = (err: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      server.close();
      for (const s of peers.values()) (err ? s.destroy() : s.end(Buffer.from(id)));
      if (err) reject(err);
      else resolve(Uint8Array.from(id));
    };
    const timer = setTimeout(() => {
      const missing = [];
      for (let r = 1; r < worldSize; r++) if (!peers.has(r)) missing.push(r);
      finish(new Error(`rendezvous on ${where}: rank${missing.length > 1 ? 's' : ''} ${missing.join(', ')} did not connect within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const server = net.createServer((sock) => {
      let buf = Buffer.alloc(0);
      sock.on('error', () => sock.destroy());
      sock.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length < HELLO_BYTES) return;
        const magic = buf.readUInt32BE(0), rank = buf.readUInt32BE(4), size = buf.readUInt32BE(8);
        sock.removeAllListeners('data');
        if (magic !== MAGIC) return sock.destroy(); // not one of ours (a port scanner, another job)
        if (size !== worldSize) return finish(new Error(`rendezvous on ${where}: rank ${rank} was started with WORLD_SIZE ${size}, rank 0 with ${worldSize}`));
        if (rank < 1 || rank >= worldSize) return finish(new Error(`rendezvous on ${where}: a process claims RANK ${rank}, outside [1, ${worldSize - 1}]`));
        if (peers.has(rank)) return finish(new Error(`rendezvous on ${where}: two processes were started with RANK ${rank}`));
        peers.set(rank, sock);
        if (peers.size === worldSize - 1) finish(null);
      });
    });
    server.on('error', (e: NodeJS.ErrnoException) =>
      finish(new Error(`rendezvous: rank 0 cannot listen on ${where}: ${e.code === 'EADDRINUSE' ? 'the port is in use (another job? choose another MASTER_PORT)' : e.message}`)),
    );
    // Rank 0 listens on every interface: MASTER_ADDR is how the others reach it.
    server.listen(port, () => {
      if (worldSize === 1) finish(null);
    });
  });
}

function join(addr: string, port: number, rank: number, worldSize: number, timeoutMs: number, where: string): Promise<Uint8Array> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    let lastError = '';
    const attempt = () => {
      if (Date.now() > deadline) {
        reject(new Error(`rendezvous: rank ${rank} could not reach rank 0 at ${where} within ${timeoutMs / 1000} s (${lastError || 'no answer'}): is rank 0 running, and are MASTER_ADDR and MASTER_PORT the same on every rank?`));
        return;
      }
      const sock = net.connect({ host: addr, port });
      let got = Buffer.alloc(0);
      let connected = false;
      // A host that drops packets would hold a connect for minutes: give up on it and retry.
      sock.setTimeout(5000, () => {
        if (!connected) sock.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' }));
      });
      sock.on('connect', () => {
        connected = true;
        sock.setTimeout(0);
        const hello = Buffer.alloc(HELLO_BYTES);
        hello.writeUInt32BE(MAGIC, 0);
        hello.writeUInt32BE(rank, 4);
        hello.writeUInt32BE(worldSize, 8);
        sock.write(hello);
      });
      sock.on('data', (chunk) => {
        got = Buffer.concat([got, chunk]);
      });
      sock.on('error', (e: NodeJS.ErrnoException) => {
        lastError = e.code ?? e.message;
      });
      sock.on('close', () => {
        if (got.length === UNIQUE_ID_BYTES) return resolve(Uint8Array.from(got));
        if (connected) {
          // Rank 0 answered and then closed without the id: it failed (its own error says why).
          reject(new Error(`rendezvous: rank 0 at ${where} closed the connection of rank ${rank} without the unique id (${got.length} of ${UNIQUE_ID_BYTES} bytes): see rank 0's error`));
          return;
        }
        // Not listening yet (ECONNREFUSED) or not reachable yet: try again shortly.
        setTimeout(attempt, 200);
      });
    };
    attempt();
  });
}
