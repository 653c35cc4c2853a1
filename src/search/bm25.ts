/**
 * Okapi BM25 over an in-memory inverted index, scored the way Lucene's `BM25Similarity` scores (idf
 * `ln(1 + (N − df + 0.5)/(df + 0.5))`, document lengths optionally quantised like Lucene's norms), so the
 * sparse side reproduces Lucene/Pyserini figures. Documents are numbered slots; removal is a tombstone with
 * exact statistics (df, average length) and postings are compacted once enough of them are dead.
 *
 * Hand-written because the npm BM25 packages keep arrays of objects per document and rebuild on every change;
 * the embedded index needs incremental add/remove and typed-array postings to stay under 20 ms at 100k chunks.
 */

export interface Bm25Parameters {
  /** Term-frequency saturation. Lucene's default 1.2; Pyserini's BEIR runs use 0.9. */
  k1: number;
  /** Length normalisation. Lucene's default 0.75; Pyserini's BEIR runs use 0.4. */
  b: number;
  /** Quantise document lengths to Lucene's one-byte norms (SmallFloat.intToByte4); default true. */
  luceneNorms?: boolean;
}

/**
 * Defaults chosen on the SciFact dev split with `npm run eval:retrieval -- --mode sparse` (see README):
 * Pyserini's k1=0.9, b=0.4 with Lucene norms.
 */
export const defaultBm25Parameters: Bm25Parameters = { k1: 0.9, b: 0.4, luceneNorms: true };

export interface ScoredSlot {
  slot: number;
  score: number;
}

class Postings {
  readonly term: string;
  slots = new Int32Array(4);
  frequencies = new Float32Array(4);
  length = 0;
  documentFrequency = 0;

  constructor(term: string) {
    this.term = term;
  }

  push(slot: number, frequency: number): void {
    if (this.length === this.slots.length) {
      const slots = new Int32Array(this.length * 2);
      slots.set(this.slots);
      this.slots = slots;
      const frequencies = new Float32Array(this.length * 2);
      frequencies.set(this.frequencies);
      this.frequencies = frequencies;
    }
    this.slots[this.length] = slot;
    this.frequencies[this.length] = frequency;
    this.length += 1;
  }
}

/** Incremental BM25 index over numbered document slots. */
export class Bm25Index {
  readonly parameters: Required<Bm25Parameters>;
  readonly #terms = new Map<string, Postings>();
  #lengths = new Float32Array(1024);
  #alive = new Uint8Array(1024);
  /** Per slot, the postings it appears in and its frequency there: typed arrays, not a Map per document (GC). */
  #documentTerms: ({ postings: Postings[]; frequencies: Float32Array } | undefined)[] = [];
  #slotCount = 0;
  #aliveCount = 0;
  #totalLength = 0;
  #deadPostings = 0;
  #livePostings = 0;
  #scores = new Float64Array(1024);
  #touched = new Int32Array(1024);

  constructor(parameters: Bm25Parameters = defaultBm25Parameters) {
    this.parameters = { luceneNorms: true, ...parameters };
  }

  get size(): number {
    return this.#aliveCount;
  }

  /** Adds a document given its (possibly weighted) term frequencies; returns its slot. */
  add(termFrequencies: ReadonlyMap<string, number>): number {
    const slot = this.#slotCount;
    this.#slotCount += 1;
    this.#ensureCapacity(this.#slotCount);
    let length = 0;
    const touched: Postings[] = [];
    const frequencies = new Float32Array(termFrequencies.size);
    for (const [term, frequency] of termFrequencies) {
      if (frequency <= 0) continue;
      let postings = this.#terms.get(term);
      if (!postings) {
        postings = new Postings(term);
        this.#terms.set(term, postings);
      }
      postings.push(slot, frequency);
      postings.documentFrequency += 1;
      frequencies[touched.length] = frequency;
      touched.push(postings);
      length += frequency;
      this.#livePostings += 1;
    }
    this.#lengths[slot] = this.parameters.luceneNorms ? luceneNormLength(length) : length;
    this.#alive[slot] = 1;
    this.#documentTerms[slot] = { postings: touched, frequencies: frequencies.subarray(0, touched.length) };
    this.#aliveCount += 1;
    this.#totalLength += length;
    return slot;
  }

  /** Removes a document; its postings become tombstones until compaction. */
  remove(slot: number): void {
    if (slot < 0 || slot >= this.#slotCount || this.#alive[slot] !== 1) return;
    const terms = this.#documentTerms[slot];
    this.#alive[slot] = 0;
    this.#documentTerms[slot] = undefined;
    this.#aliveCount -= 1;
    if (terms) {
      terms.postings.forEach((postings, position) => {
        postings.documentFrequency -= 1;
        this.#totalLength -= terms.frequencies[position] as number;
        this.#deadPostings += 1;
        this.#livePostings -= 1;
      });
    }
    if (this.#deadPostings > 10_000 && this.#deadPostings > this.#livePostings) this.#compact();
  }

  isAlive(slot: number): boolean {
    return this.#alive[slot] === 1;
  }

  /** Inverse document frequency of a term as Lucene computes it (0 when the term is unknown). */
  idf(term: string): number {
    const postings = this.#terms.get(term);
    if (!postings || postings.documentFrequency <= 0) return 0;
    const documentFrequency = postings.documentFrequency;
    return Math.log(1 + (this.#aliveCount - documentFrequency + 0.5) / (documentFrequency + 0.5));
  }

  /**
   * The best `limit` slots for a query (term → query weight, e.g. its count in the query), highest first,
   * only slots `accept` allows. Ties break by lower slot for determinism.
   */
  search(
    queryTerms: ReadonlyMap<string, number>,
    limit: number,
    accept: (slot: number) => boolean = () => true,
  ): ScoredSlot[] {
    if (this.#aliveCount === 0 || limit <= 0) return [];
    const { k1, b } = this.parameters;
    const averageLength = this.#totalLength / this.#aliveCount;
    const scores = this.#scores;
    const touched = this.#touched;
    let touchedCount = 0;
    for (const [term, weight] of queryTerms) {
      const postings = this.#terms.get(term);
      if (!postings || postings.documentFrequency <= 0) continue;
      const termWeight = weight * this.idf(term);
      const { slots, frequencies, length } = postings;
      for (let index = 0; index < length; index += 1) {
        const slot = slots[index] as number;
        if (this.#alive[slot] !== 1) continue;
        const frequency = frequencies[index] as number;
        const normaliser = k1 * (1 - b + (b * (this.#lengths[slot] as number)) / averageLength);
        const contribution = (termWeight * frequency) / (frequency + normaliser);
        if (scores[slot] === 0) {
          touched[touchedCount] = slot;
          touchedCount += 1;
        }
        scores[slot] = (scores[slot] as number) + contribution;
      }
    }
    const heap = new TopK(limit);
    for (let index = 0; index < touchedCount; index += 1) {
      const slot = touched[index] as number;
      const score = scores[slot] as number;
      scores[slot] = 0;
      if (score > 0 && accept(slot)) heap.offer(slot, score);
    }
    return heap.sorted();
  }

  #ensureCapacity(count: number): void {
    if (count <= this.#lengths.length) return;
    const capacity = Math.max(count, this.#lengths.length * 2);
    const lengths = new Float32Array(capacity);
    lengths.set(this.#lengths);
    this.#lengths = lengths;
    const alive = new Uint8Array(capacity);
    alive.set(this.#alive);
    this.#alive = alive;
    this.#scores = new Float64Array(capacity);
    this.#touched = new Int32Array(capacity);
  }

  /** Drops dead postings; slots keep their numbers so callers' slot maps stay valid. */
  #compact(): void {
    for (const [term, postings] of this.#terms) {
      if (postings.documentFrequency <= 0) {
        this.#terms.delete(term);
        continue;
      }
      let write = 0;
      for (let read = 0; read < postings.length; read += 1) {
        const slot = postings.slots[read] as number;
        if (this.#alive[slot] !== 1) continue;
        postings.slots[write] = slot;
        postings.frequencies[write] = postings.frequencies[read] as number;
        write += 1;
      }
      postings.length = write;
    }
    this.#deadPostings = 0;
  }
}

/** A bounded min-heap keeping the `capacity` highest scores. */
export class TopK {
  readonly #capacity: number;
  readonly #slots: number[] = [];
  readonly #scores: number[] = [];

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Score below the current minimum of a full heap cannot enter; lets scans skip work. */
  get threshold(): number {
    return this.#slots.length < this.#capacity ? Number.NEGATIVE_INFINITY : (this.#scores[0] as number);
  }

  offer(slot: number, score: number): void {
    const slots = this.#slots;
    const scores = this.#scores;
    if (slots.length < this.#capacity) {
      slots.push(slot);
      scores.push(score);
      let index = slots.length - 1;
      while (index > 0) {
        const parent = (index - 1) >> 1;
        if (!worse(scores[index] as number, slots[index] as number, scores[parent] as number, slots[parent] as number))
          break;
        swap(slots, scores, index, parent);
        index = parent;
      }
      return;
    }
    if (!worse(scores[0] as number, slots[0] as number, score, slot)) return;
    slots[0] = slot;
    scores[0] = score;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      if (
        left < slots.length &&
        worse(scores[left] as number, slots[left] as number, scores[smallest] as number, slots[smallest] as number)
      )
        smallest = left;
      if (
        right < slots.length &&
        worse(scores[right] as number, slots[right] as number, scores[smallest] as number, slots[smallest] as number)
      )
        smallest = right;
      if (smallest === index) break;
      swap(slots, scores, index, smallest);
      index = smallest;
    }
  }

  sorted(): ScoredSlot[] {
    const result = this.#slots.map((slot, index) => ({ slot, score: this.#scores[index] as number }));
    result.sort((left, right) => right.score - left.score || left.slot - right.slot);
    return result;
  }
}

/** True when (scoreA, slotA) ranks below (scoreB, slotB): lower score, or equal score and higher slot. */
function worse(scoreA: number, slotA: number, scoreB: number, slotB: number): boolean {
  return scoreA < scoreB || (scoreA === scoreB && slotA > slotB);
}

function swap(slots: number[], scores: number[], a: number, b: number): void {
  const slot = slots[a] as number;
  slots[a] = slots[b] as number;
  slots[b] = slot;
  const score = scores[a] as number;
  scores[a] = scores[b] as number;
  scores[b] = score;
}

/**
 * Lucene stores a document's length in one byte (`SmallFloat.intToByte4`): exact below 24, then four
 * significant bits. BM25 scores use the decoded value, so reproducing Lucene's ranking needs the same loss.
 */
export function luceneNormLength(length: number): number {
  const rounded = Math.max(0, Math.floor(length));
  return byte4ToInt(intToByte4(rounded));
}

const numberOfFreeValues = 255 - longToInt4(2 ** 31 - 1);

function intToByte4(value: number): number {
  return value < numberOfFreeValues ? value : numberOfFreeValues + longToInt4(value - numberOfFreeValues);
}

function byte4ToInt(encoded: number): number {
  return encoded < numberOfFreeValues ? encoded : numberOfFreeValues + int4ToLong(encoded - numberOfFreeValues);
}

function longToInt4(value: number): number {
  const numberOfBits = value === 0 ? 0 : Math.floor(Math.log2(value)) + 1;
  if (numberOfBits < 4) return value;
  const shift = numberOfBits - 4;
  let encoded = Math.floor(value / 2 ** shift);
  encoded &= 0x07;
  encoded |= (shift + 1) << 3;
  return encoded;
}

function int4ToLong(value: number): number {
  const bits = value & 0x07;
  const shift = (value >>> 3) - 1;
  return shift === -1 ? bits : (bits | 0x08) * 2 ** shift;
}
