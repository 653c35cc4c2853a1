/**
 * A fake Qdrant REST server on 127.0.0.1 (port 0) for adapter tests. Every request is checked against the
 * official 1.19 OpenAPI document (`test/fixtures/qdrant/openapi-v1.19.x.json.gz`): the path and method
 * must exist and the JSON body must match the operation's request schema. A request that fails is answered
 * 400/404 in Qdrant's error envelope and recorded in `problems`, so a test can assert there were none.
 * Answers use Qdrant's envelope `{ time, status: "ok", result }`.
 *
 * It also implements enough of Qdrant's semantics, in memory, for the `VectorIndex` contract suite to run on
 * the Qdrant adapter: collections with named dense (cosine) and sparse (optionally `modifier: idf`) vectors,
 * payload indexes (recorded), upsert, retrieve, delete by ids or filter, count, scroll, and the Query API with
 * nested `prefetch`, dense and sparse queries, RRF fusion and filters (`must`/`should`/`must_not`, `match`
 * value/any/except, `range`, `has_id`, nested filters). RRF here uses the same k=60 as the embedded index;
 * Qdrant's own constant may differ, which changes fused scores but not the contract.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { reciprocalRankFusion } from '../../src/search/fusion.ts';
import { fixturesDirectory } from '../support/fixtures.ts';
import { OpenApiValidator } from './spec-validator.ts';

export const qdrantSpecPath = `${fixturesDirectory}/qdrant/openapi-v1.19.x.json.gz`;

type Json = Record<string, unknown>;

interface SparseVector {
  indices: number[];
  values: number[];
}

interface StoredPoint {
  id: string | number;
  version: number;
  payload: Json;
  dense: Map<string, number[]>;
  sparse: Map<string, SparseVector>;
}

interface Collection {
  denseVectors: Map<string, { size: number; distance: string }>;
  sparseVectors: Map<string, { modifier: string }>;
  payloadIndexes: Map<string, unknown>;
  points: Map<string, StoredPoint>;
  operation: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** The OpenAPI path template the request matched, e.g. `/collections/{collection_name}/points/query`. */
  template: string | undefined;
  body: unknown;
}

let sharedValidator: OpenApiValidator | undefined;

export class FakeQdrantServer {
  readonly requests: RecordedRequest[] = [];
  readonly problems: string[] = [];
  readonly collections = new Map<string, Collection>();
  readonly #validator: OpenApiValidator;
  readonly #templates: { template: string; pattern: RegExp; methods: Set<string> }[];
  #server: Server | undefined;
  #failures: number[] = [];

  constructor() {
    sharedValidator ??= OpenApiValidator.fromFile(qdrantSpecPath);
    this.#validator = sharedValidator;
    const paths = this.#validator.document.paths as Record<string, Json>;
    this.#templates = Object.entries(paths).map(([template, operations]) => ({
      template,
      pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '([^/]+)')}$`),
      methods: new Set(Object.keys(operations).map((method) => method.toUpperCase())),
    }));
  }

  /** Starts listening; returns the base URL. */
  async start(): Promise<string> {
    this.#server = createServer((request, response) => {
      this.#handle(request, response).catch((error: unknown) => {
        this.problems.push(`fake crashed: ${String(error)}`);
        this.#send(response, 500, { status: { error: String(error) } });
      });
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server?.closeAllConnections();
      this.#server?.close(() => resolve());
    });
  }

  /** The next `count` requests are answered with HTTP `status` (fault injection). */
  failNext(status: number, count = 1): void {
    for (let index = 0; index < count; index += 1) this.#failures.push(status);
  }

  /** Requests whose matched template ends with `suffix`. */
  requestsTo(suffix: string): RecordedRequest[] {
    return this.requests.filter((request) => request.template?.endsWith(suffix));
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://fake');
    const method = (request.method ?? 'GET').toUpperCase();
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        this.problems.push(`${method} ${url.pathname}: body is not JSON`);
        return this.#send(response, 400, { status: { error: 'Json deserialize error' } });
      }
    }
    const matched = this.#templates.find((entry) => entry.pattern.test(url.pathname) && entry.methods.has(method));
    this.requests.push({ method, path: url.pathname, template: matched?.template, body });
    if (!matched) {
      this.problems.push(`${method} ${url.pathname} is not an operation of the Qdrant 1.19 API`);
      return this.#send(response, 404, { status: { error: 'Not found' } });
    }
    if (body !== undefined) {
      const result = this.#validator.validateRequestBody(matched.template, method.toLowerCase(), body);
      if (!result.valid) {
        this.problems.push(`${method} ${matched.template}: ${result.summary}`);
        return this.#send(response, 400, { status: { error: `Format error in JSON body: ${result.summary}` } });
      }
    }
    const failure = this.#failures.shift();
    if (failure !== undefined) return this.#send(response, failure, { status: { error: 'injected failure' } });
    const parameters = (matched.pattern.exec(url.pathname) ?? []).slice(1).map(decodeURIComponent);
    const result = this.#route(method, matched.template, parameters, (body ?? {}) as Json);
    if ('error' in result) return this.#send(response, result.status, { status: { error: result.error } });
    return this.#send(response, 200, { status: 'ok', result: result.value });
  }

  #send(response: ServerResponse, status: number, envelope: Json): void {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ time: 0.0001, ...envelope }));
  }

  #route(
    method: string,
    template: string,
    parameters: string[],
    body: Json,
  ): { status: 200; value: unknown } | { status: number; error: string } {
    const name = parameters[0] ?? '';
    const collection = this.collections.get(name);
    const missing = { status: 404, error: `Collection \`${name}\` doesn't exist!` } as const;
    const updated = (target: Collection) => {
      target.operation += 1;
      return { status: 200 as const, value: { operation_id: target.operation, status: 'completed' } };
    };
    switch (`${method} ${template}`) {
      case 'GET /healthz':
        return { status: 200, value: 'healthz check passed' };
      case 'GET /collections/{collection_name}/exists':
        return { status: 200, value: { exists: collection !== undefined } };
      case 'PUT /collections/{collection_name}': {
        if (collection) return { status: 409, error: `Collection \`${name}\` already exists!` };
        const created: Collection = {
          denseVectors: new Map(),
          sparseVectors: new Map(),
          payloadIndexes: new Map(),
          points: new Map(),
          operation: 0,
        };
        const vectors = (body.vectors ?? {}) as Json;
        if (typeof vectors.size === 'number') created.denseVectors.set('', vectors as never);
        else
          for (const [vectorName, config] of Object.entries(vectors))
            created.denseVectors.set(vectorName, config as never);
        for (const [vectorName, config] of Object.entries((body.sparse_vectors ?? {}) as Json)) {
          created.sparseVectors.set(vectorName, { modifier: String((config as Json)?.modifier ?? 'none') });
        }
        this.collections.set(name, created);
        return { status: 200, value: true };
      }
      case 'PUT /collections/{collection_name}/index':
        if (!collection) return missing;
        collection.payloadIndexes.set(String(body.field_name), body.field_schema);
        return updated(collection);
      case 'PUT /collections/{collection_name}/points': {
        if (!collection) return missing;
        const points = body.points as Json[] | undefined;
        if (!points) return { status: 400, error: 'the fake supports only the points-list form of upsert' };
        for (const point of points) {
          const stored = this.#toStored(collection, point);
          if (typeof stored === 'string') return { status: 400, error: stored };
          collection.points.set(String(stored.id), stored);
        }
        return updated(collection);
      }
      case 'POST /collections/{collection_name}/points/delete': {
        if (!collection) return missing;
        if (Array.isArray(body.points)) for (const id of body.points) collection.points.delete(String(id));
        else if (body.filter) {
          for (const [key, point] of collection.points)
            if (matches(point, body.filter as Json)) collection.points.delete(key);
        }
        return updated(collection);
      }
      case 'POST /collections/{collection_name}/points': {
        if (!collection) return missing;
        const ids = (body.ids ?? []) as (string | number)[];
        const found = ids.map((id) => collection.points.get(String(id))).filter((point) => point !== undefined);
        return { status: 200, value: found.map((point) => this.#record(point, body)) };
      }
      case 'POST /collections/{collection_name}/points/count': {
        if (!collection) return missing;
        const filter = body.filter as Json | undefined;
        const count = [...collection.points.values()].filter((point) => !filter || matches(point, filter)).length;
        return { status: 200, value: { count } };
      }
      case 'POST /collections/{collection_name}/points/scroll': {
        if (!collection) return missing;
        const filter = body.filter as Json | undefined;
        const limit = typeof body.limit === 'number' ? body.limit : 10;
        const sorted = [...collection.points.values()]
          .filter((point) => !filter || matches(point, filter))
          .sort((left, right) => compareIds(left.id, right.id));
        const start =
          body.offset === undefined || body.offset === null
            ? 0
            : sorted.findIndex((point) => compareIds(point.id, body.offset as string | number) >= 0);
        const page = start < 0 ? [] : sorted.slice(start, start + limit);
        const next = start < 0 ? undefined : sorted[start + limit];
        return {
          status: 200,
          value: { points: page.map((point) => this.#record(point, body)), next_page_offset: next ? next.id : null },
        };
      }
      case 'POST /collections/{collection_name}/points/query': {
        if (!collection) return missing;
        const scored = this.#query(collection, body);
        if (typeof scored === 'string') return { status: 400, error: scored };
        const offset = typeof body.offset === 'number' ? body.offset : 0;
        const limit = typeof body.limit === 'number' ? body.limit : 10;
        const points = scored.slice(offset, offset + limit).map(({ point, score }) => ({
          ...this.#record(point, body),
          score,
          version: point.version,
        }));
        return { status: 200, value: { points } };
      }
      default:
        this.problems.push(`the fake does not implement ${method} ${template}`);
        return { status: 501, error: `fake: ${method} ${template} not implemented` };
    }
  }

  #toStored(collection: Collection, point: Json): StoredPoint | string {
    const stored: StoredPoint = {
      id: point.id as string | number,
      version: collection.operation + 1,
      payload: (point.payload ?? {}) as Json,
      dense: new Map(),
      sparse: new Map(),
    };
    const vector = point.vector;
    const entries: [string, unknown][] = Array.isArray(vector)
      ? [['', vector]]
      : Object.entries((vector ?? {}) as Json);
    for (const [vectorName, value] of entries) {
      const denseConfig = collection.denseVectors.get(vectorName);
      if (Array.isArray(value)) {
        if (!denseConfig) return `Wrong input: Not existing vector name error: ${vectorName}`;
        if (value.length !== denseConfig.size) {
          return `Wrong input: Vector dimension error: expected dim: ${denseConfig.size}, got ${value.length}`;
        }
        stored.dense.set(vectorName, value as number[]);
      } else {
        if (!collection.sparseVectors.has(vectorName))
          return `Wrong input: Not existing vector name error: ${vectorName}`;
        const sparse = value as SparseVector;
        if (new Set(sparse.indices).size !== sparse.indices.length) return 'Validation error: indices must be unique';
        if (sparse.indices.length !== sparse.values.length)
          return 'Validation error: indices and values lengths differ';
        stored.sparse.set(vectorName, sparse);
      }
    }
    return stored;
  }

  #record(point: StoredPoint, body: Json): Json {
    const record: Json = { id: point.id };
    const withPayload = body.with_payload;
    if (withPayload === true) record.payload = point.payload;
    else if (Array.isArray(withPayload)) {
      record.payload = Object.fromEntries(Object.entries(point.payload).filter(([key]) => withPayload.includes(key)));
    }
    const withVector = body.with_vector;
    if (withVector === true || Array.isArray(withVector)) {
      const wanted = (vectorName: string) => withVector === true || (withVector as string[]).includes(vectorName);
      const vector: Json = {};
      for (const [vectorName, value] of point.dense) if (wanted(vectorName)) vector[vectorName] = value;
      for (const [vectorName, value] of point.sparse) if (wanted(vectorName)) vector[vectorName] = value;
      record.vector = vector;
    }
    return record;
  }

  /** Scored points for one query level (prefetches first, then this level's query), best first. */
  #query(collection: Collection, request: Json): { point: StoredPoint; score: number }[] | string {
    const filter = request.filter as Json | undefined;
    const limit = typeof request.limit === 'number' ? request.limit : 10;
    const prefetches = request.prefetch === undefined || request.prefetch === null ? [] : [request.prefetch].flat();
    let candidates: { point: StoredPoint; score: number }[][] | undefined;
    if (prefetches.length > 0) {
      candidates = [];
      for (const prefetch of prefetches) {
        const result = this.#query(collection, prefetch as Json);
        if (typeof result === 'string') return result;
        candidates.push(result);
      }
    }
    const query = request.query as unknown;
    const using = typeof request.using === 'string' ? request.using : '';
    const pool = candidates
      ? [...new Map(candidates.flat().map((entry) => [String(entry.point.id), entry.point])).values()]
      : [...collection.points.values()];
    const allowed = pool.filter((point) => !filter || matches(point, filter));
    if (query && typeof query === 'object' && !Array.isArray(query) && ('fusion' in query || 'rrf' in query)) {
      if (!candidates) return 'Fusion queries need prefetches';
      const allowedIds = new Set(allowed.map((point) => String(point.id)));
      return reciprocalRankFusion(
        candidates.map((list) => list.filter((entry) => allowedIds.has(String(entry.point.id)))),
        (entry) => String(entry.point.id),
      )
        .slice(0, limit)
        .map(({ item, score }) => ({ point: item.point, score }));
    }
    let scored: { point: StoredPoint; score: number }[];
    if (Array.isArray(query)) {
      const config = collection.denseVectors.get(using);
      if (!config) return `Wrong input: Not existing vector name error: ${using}`;
      if (query.length !== config.size)
        return `Wrong input: Vector dimension error: expected dim: ${config.size}, got ${query.length}`;
      scored = allowed.flatMap((point) => {
        const vector = point.dense.get(using);
        return vector ? [{ point, score: cosine(query as number[], vector) }] : [];
      });
    } else if (query && typeof query === 'object' && 'indices' in query) {
      const config = collection.sparseVectors.get(using);
      if (!config) return `Wrong input: Not existing vector name error: ${using}`;
      scored = this.#sparseScores(collection, using, config.modifier === 'idf', query as SparseVector, allowed);
    } else if (query === undefined || query === null) {
      scored = allowed.sort((left, right) => compareIds(left.id, right.id)).map((point) => ({ point, score: 0 }));
      return scored.slice(0, limit);
    } else {
      return 'the fake supports dense, sparse and fusion queries only';
    }
    return scored
      .sort((left, right) => right.score - left.score || compareIds(left.point.id, right.point.id))
      .slice(0, limit);
  }

  #sparseScores(
    collection: Collection,
    using: string,
    idf: boolean,
    query: SparseVector,
    candidates: StoredPoint[],
  ): { point: StoredPoint; score: number }[] {
    const weights = new Map<number, number>();
    const withVector = [...collection.points.values()].filter((point) => point.sparse.has(using));
    query.indices.forEach((index, position) => {
      let weight = query.values[position] ?? 0;
      if (idf) {
        const documentFrequency = withVector.filter((point) => point.sparse.get(using)?.indices.includes(index)).length;
        const total = withVector.length;
        weight *= Math.log((total - documentFrequency + 0.5) / (documentFrequency + 0.5) + 1);
      }
      weights.set(index, weight);
    });
    return candidates.flatMap((point) => {
      const vector = point.sparse.get(using);
      if (!vector) return [];
      let score = 0;
      let overlap = false;
      vector.indices.forEach((index, position) => {
        const weight = weights.get(index);
        if (weight !== undefined) {
          overlap = true;
          score += weight * (vector.values[position] ?? 0);
        }
      });
      return overlap ? [{ point, score }] : [];
    });
  }
}

function compareIds(left: string | number, right: string | number): number {
  return String(left) < String(right) ? -1 : String(left) > String(right) ? 1 : 0;
}

function cosine(left: number[], right: number[]): number {
  let dot = 0;
  let leftNorm = 0;
  let rightNorm = 0;
  for (let index = 0; index < left.length; index += 1) {
    const a = left[index] ?? 0;
    const b = right[index] ?? 0;
    dot += a * b;
    leftNorm += a * a;
    rightNorm += b * b;
  }
  return leftNorm === 0 || rightNorm === 0 ? 0 : dot / Math.sqrt(leftNorm * rightNorm);
}

function conditionList(value: unknown): Json[] {
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]) as Json[];
}

function matches(point: StoredPoint, filter: Json): boolean {
  const must = conditionList(filter.must);
  const should = conditionList(filter.should);
  const mustNot = conditionList(filter.must_not);
  if (!must.every((condition) => matchesCondition(point, condition))) return false;
  if (should.length > 0 && !should.some((condition) => matchesCondition(point, condition))) return false;
  return !mustNot.some((condition) => matchesCondition(point, condition));
}

function matchesCondition(point: StoredPoint, condition: Json): boolean {
  if ('must' in condition || 'should' in condition || 'must_not' in condition) return matches(point, condition);
  if (Array.isArray(condition.has_id)) return condition.has_id.map(String).includes(String(point.id));
  const key = condition.key;
  if (typeof key !== 'string') return false;
  const raw = point.payload[key];
  const values = Array.isArray(raw) ? raw : raw === undefined || raw === null ? [] : [raw];
  const match = condition.match as Json | undefined;
  if (match) {
    if ('value' in match) return values.some((value) => value === match.value);
    if (Array.isArray(match.any)) return values.some((value) => (match.any as unknown[]).includes(value));
    if (Array.isArray(match.except)) return values.every((value) => !(match.except as unknown[]).includes(value));
    return false;
  }
  const range = condition.range as Json | undefined;
  if (range) {
    return values.some(
      (value) =>
        typeof value === 'number' &&
        (typeof range.lt !== 'number' || value < range.lt) &&
        (typeof range.lte !== 'number' || value <= range.lte) &&
        (typeof range.gt !== 'number' || value > range.gt) &&
        (typeof range.gte !== 'number' || value >= range.gte),
    );
  }
  return false;
}
