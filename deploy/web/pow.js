// Proof-of-work search: find a string s of letters and digits such that
// SHA-256(challenge + ":" + s) starts with `bits` zero bits (the queue
// service's rule, queue-service/src/pow.rs).
//
// crypto.subtle.digest is asynchronous per hash and far too slow for the
// millions of hashes a hard challenge takes, so this is a small synchronous
// SHA-256. The search hashes one 64-byte block per candidate:
//   - every full block of the challenge prefix is compressed once (midstate);
//   - the candidate is a filler (only when the prefix's tail leaves too
//     little room) plus a fixed-width base-36 counter, laid out so the
//     counter and the padding share the last block;
//   - rounds over message words that hold no counter digit are computed once.
// No DOM, no imports: used by pow-worker.js and by the Node tests.

const K = Int32Array.of(
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
);
const IV = Int32Array.of(
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
);

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
const DIGITS = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));
/** Counter width: 36^7 ≈ 7.8e10 candidates, far beyond any allowed difficulty. */
const WIDTH = 7;

/** Big-endian words of 64 bytes at `offset`. */
function readBlock(bytes, offset, w) {
  for (let i = 0; i < 16; i++) {
    const j = offset + 4 * i;
    w[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
  }
}

/**
 * SHA-256 rounds `from`..`to`-1 on working variables `s` (as rounds
 * 0..from-1 left them), for the block whose words are w[0..15]; w[16..63]
 * are (re)computed. The variables after the last round go to `out`.
 */
function rounds(s, w, from, to, out) {
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15];
    const y = w[i - 2];
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
  }
  let a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
  for (let i = from; i < to; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g; g = f; f = e; e = (d + t1) | 0;
    d = c; c = b; b = a; a = (t1 + t2) | 0;
  }
  out[0] = a; out[1] = b; out[2] = c; out[3] = d; out[4] = e; out[5] = f; out[6] = g; out[7] = h;
}

/** Compresses one block into state `h` (in place). */
function compress(h, w) {
  const v = new Int32Array(8);
  rounds(h, w, 0, 64, v);
  for (let i = 0; i < 8; i++) h[i] = (h[i] + v[i]) | 0;
}

/** Appends SHA-256 padding for a message of `length` bytes; returns the padded bytes. */
function pad(bytes, length) {
  const total = Math.ceil((length + 9) / 64) * 64;
  const out = new Uint8Array(total);
  out.set(bytes.subarray(0, length));
  out[length] = 0x80;
  const bitsHigh = Math.floor(length / 0x20000000); // length * 8 / 2^32
  const bitsLow = (length * 8) >>> 0;
  const view = new DataView(out.buffer);
  view.setUint32(total - 8, bitsHigh);
  view.setUint32(total - 4, bitsLow);
  return out;
}

/** SHA-256 of a byte array (for checks and tests; the search uses PowSearch). */
export function sha256(bytes) {
  const padded = pad(bytes, bytes.length);
  const h = Int32Array.from(IV);
  const w = new Int32Array(64);
  for (let off = 0; off < padded.length; off += 64) {
    readBlock(padded, off, w);
    compress(h, w);
  }
  const out = new Uint8Array(32);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) view.setInt32(4 * i, h[i]);
  return out;
}

/** Leading zero bits of a digest, big-endian bit order (as the server counts). */
export function leadingZeroBits(digest) {
  let bits = 0;
  for (const byte of digest) {
    if (byte === 0) {
      bits += 8;
    } else {
      return bits + Math.clz32(byte) - 24;
    }
  }
  return bits;
}

/** Whether `solution` solves `challenge` at `bits` (an independent check). */
export function verify(challenge, solution, bits) {
  return leadingZeroBits(sha256(new TextEncoder().encode(`${challenge}:${solution}`))) >= bits;
}

/**
 * A resumable search: call run(n) repeatedly; it tries up to n candidates
 * and returns the solution, or null to be called again. `hashes` counts
 * the candidates tried so far.
 */
export class PowSearch {
  constructor(challenge, bits) {
    if (!Number.isInteger(bits) || bits < 0 || bits > 256) throw new RangeError(`bad difficulty ${bits}`);
    this.bits = bits;
    this.hashes = 0;
    this.challenge = challenge;
    const prefix = new TextEncoder().encode(`${challenge}:`);

    // Compress every full block of the prefix once.
    const h = Int32Array.from(IV);
    const w = new Int32Array(64);
    const full = Math.floor(prefix.length / 64) * 64;
    for (let off = 0; off < full; off += 64) {
      readBlock(prefix, off, w);
      compress(h, w);
    }
    let tail = Array.from(prefix.subarray(full));
    // The counter, the 0x80 byte and the 8-byte length must fit in the last
    // block. If the tail leaves too little room, fill its block with '0's
    // (they become part of the solution, which stays under 64 - 48 + WIDTH
    // = 23 characters) and start the counter on a fresh block.
    let filler = '';
    if (tail.length + WIDTH + 9 > 64) {
      filler = '0'.repeat(64 - tail.length);
      readBlock(Uint8Array.from([...tail, ...Array(filler.length).fill(DIGITS[0])]), 0, w);
      compress(h, w);
      tail = [];
    }
    this.filler = filler;
    this.midstate = h;

    // The last block: tail, counter ('0' * WIDTH to start), padding, length.
    const length = prefix.length + filler.length + WIDTH;
    const block = pad(Uint8Array.from([...tail, ...Array(WIDTH).fill(DIGITS[0])]), tail.length + WIDTH);
    const view = new DataView(block.buffer);
    view.setUint32(56, Math.floor(length / 0x20000000));
    view.setUint32(60, (length * 8) >>> 0);
    this.block = block; // 64 bytes, rewritten as the counter moves
    this.counterAt = tail.length;
    this.digits = new Uint8Array(WIDTH); // alphabet indexes, most significant first

    this.w = new Int32Array(64);
    readBlock(block, 0, this.w);
    // Words before the first counter byte never change: run their rounds once.
    this.firstWord = Math.floor(this.counterAt / 4);
    this.fixedRounds = this.firstWord;
    this.early = new Int32Array(8);
    rounds(h, this.w, 0, this.fixedRounds, this.early);
    this.lastWord = Math.floor((this.counterAt + WIDTH - 1) / 4);
    this.exhausted = false;
  }

  /** The candidate the counter stands at now. */
  candidate() {
    let s = this.filler;
    for (const d of this.digits) s += ALPHABET[d];
    return s;
  }

  /** Tries up to `limit` candidates; returns a solution or null. */
  run(limit) {
    const { block, w, early, midstate, fixedRounds, firstWord, lastWord } = this;
    const bits = this.bits;
    // The digest's first word must be zero under this mask (its top `bits` bits).
    const mask = bits >= 32 ? -1 : ~(0xffffffff >>> bits);
    const h0 = midstate[0];
    const e0 = early[0], e1 = early[1], e2 = early[2], e3 = early[3];
    const e4 = early[4], e5 = early[5], e6 = early[6], e7 = early[7];
    for (let n = 0; n < limit; n++) {
      if (this.exhausted) return null;
      // Only the counter's words change (the schedule overwrites w[16..63]).
      for (let i = firstWord; i <= lastWord; i++) {
        const j = 4 * i;
        w[i] = (block[j] << 24) | (block[j + 1] << 16) | (block[j + 2] << 8) | block[j + 3];
      }
      for (let i = 16; i < 64; i++) {
        const x = w[i - 15];
        const y = w[i - 2];
        w[i] = (w[i - 16] + (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + w[i - 7] +
          (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10))) | 0;
      }
      // rounds(), inlined: this loop is the whole cost. Only the digest's
      // first word matters here: midstate[0] + a.
      let a = e0, b = e1, c = e2, d = e3, e = e4, f = e5, g = e6, h = e7;
      for (let i = fixedRounds; i < 64; i++) {
        const t1 = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
          ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
        const t2 = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
          ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0;
        d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      this.hashes++;
      if ((((h0 + a) | 0) & mask) === 0) {
        const solution = this.candidate();
        this.advance();
        // Beyond 32 bits (the service allows at most 26) check the whole digest.
        if (bits <= 32 || verify(this.challenge, solution, bits)) return solution;
      } else {
        this.advance();
      }
    }
    return null;
  }

  /** Moves the counter one step (least significant digit last). */
  advance() {
    const { block, digits, counterAt } = this;
    for (let i = WIDTH - 1; i >= 0; i--) {
      if (digits[i] < 35) {
        digits[i]++;
        block[counterAt + i] = DIGITS[digits[i]];
        return;
      }
      digits[i] = 0;
      block[counterAt + i] = DIGITS[0];
    }
    this.exhausted = true;
  }
}
