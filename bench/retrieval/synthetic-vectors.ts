/**
 * Deterministic synthetic embeddings for the retrieval benchmarks: the same seed gives the same vectors in every
 * process, so an exact run and a quantized run in separate processes index and query identical data.
 *
 * - 'clustered': text-embedding-like structure — a shared direction every vector leans towards (real embeddings
 *   are anisotropic: unrelated texts still have cosine ≈ 0.1–0.3), 100 topics, 10 sub-topics per topic
 *   (1,000 clusters in all) and per-vector noise; the nearest neighbours of a query are its sub-topic's vectors,
 *   with cosines around 0.6–0.8 against ≈ 0.2 for the rest.
 * - 'uniform': independent Gaussian components, normalised — no structure at all, the hardest case for
 *   quantization and a sign-bit prefilter (every cosine is ≈ 0 ± 1/√d, so neighbours barely stand out).
 * Vectors are generated one at a time (nothing retained), from a 32-bit LCG and Box–Muller.
 */
export type VectorDistribution = 'clustered' | 'uniform';

export class SyntheticVectors {
  readonly dimensions: number;
  readonly distribution: VectorDistribution;
  #seed: number;
  #spare: number | undefined;
  readonly #shared: Float32Array;
  readonly #topics: Float32Array[];
  readonly #subtopics: Float32Array[];

  constructor(dimensions: number, distribution: VectorDistribution, seed = 1234) {
    this.dimensions = dimensions;
    this.distribution = distribution;
    this.#seed = seed >>> 0;
    this.#shared = this.#unitGaussian();
    this.#topics = distribution === 'clustered' ? Array.from({ length: 100 }, () => this.#unitGaussian()) : [];
    this.#subtopics = distribution === 'clustered' ? Array.from({ length: 1000 }, () => this.#unitGaussian()) : [];
  }

  /** The next vector (not normalised for 'clustered': the index normalises). */
  next(): Float32Array {
    const noise = this.#unitGaussian();
    if (this.distribution === 'uniform') return noise;
    const subtopic = Math.floor(this.#uniform() * this.#subtopics.length);
    const topic = this.#topics[Math.floor(subtopic / 10)] as Float32Array;
    const sub = this.#subtopics[subtopic] as Float32Array;
    const vector = new Float32Array(this.dimensions);
    for (let index = 0; index < this.dimensions; index += 1) {
      vector[index] =
        0.45 * (this.#shared[index] as number) +
        0.55 * (topic[index] as number) +
        0.6 * (sub[index] as number) +
        0.55 * (noise[index] as number);
    }
    return vector;
  }

  #uniform(): number {
    this.#seed = (Math.imul(this.#seed, 1664525) + 1013904223) >>> 0;
    return (this.#seed + 0.5) / 2 ** 32;
  }

  #gaussian(): number {
    if (this.#spare !== undefined) {
      const spare = this.#spare;
      this.#spare = undefined;
      return spare;
    }
    const radius = Math.sqrt(-2 * Math.log(this.#uniform()));
    const angle = 2 * Math.PI * this.#uniform();
    this.#spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }

  #unitGaussian(): Float32Array {
    const vector = new Float32Array(this.dimensions);
    let squares = 0;
    for (let index = 0; index < this.dimensions; index += 1) {
      const value = this.#gaussian();
      vector[index] = value;
      squares += value * value;
    }
    const norm = Math.sqrt(squares);
    for (let index = 0; index < this.dimensions; index += 1) vector[index] = (vector[index] as number) / norm;
    return vector;
  }
}
