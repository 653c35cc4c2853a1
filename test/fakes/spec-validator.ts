/**
 * Validates what a fake receives against an official OpenAPI / Swagger document (ajv), so a fake can reject
 * exactly what the real service would reject on shape: missing required parameters, wrong types, unknown enum
 * values.
 *
 * Usage:
 * ```ts
 * const spec = OpenApiValidator.fromFile(openAISpecPath); // test/fixtures/openai/…json.gz
 * spec.validateRequestBody('/chat/completions', 'post', body);      // OpenAPI 3.x requestBody (application/json)
 * spec.validateSchema('CreateEmbeddingRequest', body);              // components/schemas (3.x) or definitions (2.0)
 * spec.validateParameters('/chat.postMessage', 'post', params, { coerce: true }); // Swagger 2.0 formData/query
 * ```
 * Each returns `{ valid: true }` or `{ valid: false, issues, summary }`.
 *
 * Handles: Swagger 2.0 and OpenAPI 3.0 (`nullable: true`, boolean `exclusiveMinimum/Maximum`) via ajv's draft-07
 * dialect, OpenAPI 3.1 via ajv's 2020-12 dialect. Unknown OpenAPI keywords (`discriminator`, `example`, `x-*`)
 * are ignored (ajv `strict: false`). Written here because no maintained ajv-based OpenAPI request validator
 * fits an HTTP fake without pulling in a framework; the conversion is the small, documented part.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import { readFixtureText } from '../support/fixtures.ts';

export interface ValidationIssue {
  /** JSON pointer into the validated value ('' for the root). */
  path: string;
  message: string;
}

export type ValidationResult = { valid: true } | { valid: false; issues: ValidationIssue[]; summary: string };

type JsonObject = Record<string, unknown>;

const documentId = 'openapi-document';
const parameterLocations = new Set(['query', 'formData', 'path']);

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Rewrites OpenAPI 3.0 schema dialect into plain JSON Schema: `nullable: true` becomes a `null` type (or an
 * `anyOf` with `{type: 'null'}` when the schema has no `type`), and boolean `exclusiveMinimum/Maximum` (draft 4
 * style) become numeric. Returns a new value; the input is not modified.
 */
export function normalizeOpenApiSchema(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalizeOpenApiSchema);
  if (!isObject(value)) return value;
  const result: JsonObject = {};
  for (const [key, child] of Object.entries(value)) {
    if (key === 'nullable' || key === 'example' || key === 'examples' || key === 'discriminator') continue;
    result[key] = normalizeOpenApiSchema(child);
  }
  if (value.exclusiveMinimum === true && typeof value.minimum === 'number') {
    result.exclusiveMinimum = value.minimum;
    delete result.minimum;
  } else if (value.exclusiveMinimum === false) {
    delete result.exclusiveMinimum;
  }
  if (value.exclusiveMaximum === true && typeof value.maximum === 'number') {
    result.exclusiveMaximum = value.maximum;
    delete result.maximum;
  } else if (value.exclusiveMaximum === false) {
    delete result.exclusiveMaximum;
  }
  if (value.nullable === true) {
    if (typeof result.type === 'string') {
      result.type = [result.type, 'null'];
      if (Array.isArray(result.enum) && !result.enum.includes(null)) result.enum = [...result.enum, null];
    } else if (Array.isArray(result.type)) {
      if (!result.type.includes('null')) result.type = [...result.type, 'null'];
    } else {
      return { anyOf: [result, { type: 'null' }] };
    }
  }
  return result;
}

function formatIssues(errors: ErrorObject[] | null | undefined): ValidationIssue[] {
  return (errors ?? []).map((error) => {
    let message = error.message ?? 'is invalid';
    if (error.keyword === 'required' && typeof error.params.missingProperty === 'string') {
      message = `missing required property '${error.params.missingProperty}'`;
    } else if (error.keyword === 'enum' && Array.isArray(error.params.allowedValues)) {
      message = `must be one of ${error.params.allowedValues.map((entry: unknown) => JSON.stringify(entry)).join(', ')}`;
    }
    return { path: error.instancePath, message };
  });
}

function summarise(issues: ValidationIssue[]): string {
  return issues.map((issue) => `${issue.path || '(root)'} ${issue.message}`).join('; ');
}

function toResult(validate: ValidateFunction, value: unknown): ValidationResult {
  if (validate(value)) return { valid: true };
  const issues = formatIssues(validate.errors);
  return { valid: false, issues, summary: summarise(issues) };
}

/** One OpenAPI / Swagger document, compiled lazily per schema or operation and cached. */
export class OpenApiValidator {
  readonly document: JsonObject;
  readonly version: '2.0' | '3.0' | '3.1';
  #ajv: Ajv;
  #coercingAjv: Ajv;
  #cache = new Map<string, ValidateFunction>();

  constructor(document: JsonObject) {
    const declared = String(document.openapi ?? document.swagger ?? '');
    this.version = declared.startsWith('3.1') ? '3.1' : declared.startsWith('3.') ? '3.0' : '2.0';
    this.document = this.version === '3.1' ? document : (normalizeOpenApiSchema(document) as JsonObject);
    this.#ajv = this.#createAjv(false);
    this.#coercingAjv = this.#createAjv(true);
  }

  /** Loads a JSON or YAML document from disk, gzip-compressed when the name ends in `.gz`. */
  static fromFile(path: string): OpenApiValidator {
    const text = readFixtureText(path);
    const document = /\.json(\.gz)?$/.test(path) ? JSON.parse(text) : parseYaml(text);
    if (!isObject(document)) throw new Error(`${path} is not an OpenAPI document`);
    return new OpenApiValidator(document);
  }

  #createAjv(coerceTypes: boolean): Ajv {
    const options = { strict: false, allErrors: true, validateSchema: false, coerceTypes } as const;
    const ajv = this.version === '3.1' ? new Ajv2020(options) : new Ajv(options);
    addFormatsModule.default(ajv);
    ajv.addFormat('int32', { type: 'number', validate: (value: number) => Number.isInteger(value) });
    ajv.addFormat('int64', { type: 'number', validate: (value: number) => Number.isInteger(value) });
    for (const name of ['float', 'double', 'binary', 'byte', 'password']) ajv.addFormat(name, true);
    const { $schema: _ignored, ...withoutDialect } = this.document;
    ajv.addSchema({ ...withoutDialect, $id: documentId });
    return ajv;
  }

  #schemaPointer(name: string): string {
    return this.version === '2.0' ? `#/definitions/${name}` : `#/components/schemas/${name}`;
  }

  /** Validates `value` against a named schema (`components/schemas/<name>` or `definitions/<name>`). */
  validateSchema(name: string, value: unknown): ValidationResult {
    const key = `schema:${name}`;
    let validate = this.#cache.get(key);
    if (!validate) {
      validate = this.#ajv.compile({ $ref: `${documentId}${this.#schemaPointer(name)}` });
      this.#cache.set(key, validate);
    }
    return toResult(validate, value);
  }

  #operation(path: string, method: string): JsonObject {
    const pathItem = (this.document.paths as JsonObject | undefined)?.[path];
    const operation = isObject(pathItem) ? pathItem[method.toLowerCase()] : undefined;
    if (!isObject(operation)) throw new Error(`The document has no operation ${method.toUpperCase()} ${path}`);
    return operation;
  }

  /** Whether the document describes `path` (any method). */
  hasPath(path: string): boolean {
    return isObject((this.document.paths as JsonObject | undefined)?.[path]);
  }

  /** Validates a JSON request body against an OpenAPI 3.x operation's `requestBody` (application/json). */
  validateRequestBody(path: string, method: string, body: unknown): ValidationResult {
    const key = `body:${method}:${path}`;
    let validate = this.#cache.get(key);
    if (!validate) {
      const operation = this.#operation(path, method);
      const escapedPath = path.replaceAll('~', '~0').replaceAll('/', '~1');
      const requestBody = operation.requestBody;
      let schema: JsonObject;
      if (isObject(requestBody) && typeof requestBody.$ref === 'string') {
        schema = { $ref: `${documentId}${requestBody.$ref}/content/application~1json/schema` };
      } else {
        schema = {
          $ref: `${documentId}#/paths/${escapedPath}/${method.toLowerCase()}/requestBody/content/application~1json/schema`,
        };
      }
      validate = this.#ajv.compile(schema);
      this.#cache.set(key, validate);
    }
    return toResult(validate, body);
  }

  /**
   * Validates named parameters (query, formData and path; header parameters such as `token` are the caller's
   * business) against an operation's parameter list: required ones present, types and enums respected. With
   * `coerce`, string values are coerced to the declared types first (form-encoded and query bodies are strings);
   * names in `ignore` are not checked (e.g. `token`, which Slack also accepts as a Bearer header).
   * The given object is not modified.
   */
  validateParameters(
    path: string,
    method: string,
    parameters: Record<string, unknown>,
    options: { coerce?: boolean; ignore?: string[] } = {},
  ): ValidationResult {
    const ignored = new Set(options.ignore ?? []);
    const key = `parameters:${options.coerce ? 'coerce' : 'strict'}:${[...ignored].join(',')}:${method}:${path}`;
    let validate = this.#cache.get(key);
    if (!validate) {
      const operation = this.#operation(path, method);
      const properties: JsonObject = {};
      const required: string[] = [];
      for (const parameter of (operation.parameters as unknown[] | undefined) ?? []) {
        if (!isObject(parameter) || typeof parameter.name !== 'string') continue;
        if (!parameterLocations.has(String(parameter.in)) || ignored.has(parameter.name)) continue;
        const { name, in: _in, required: isRequired, description: _description, schema, ...rest } = parameter;
        properties[name] = isObject(schema) ? schema : rest;
        if (isRequired === true) required.push(name);
      }
      const ajv = options.coerce ? this.#coercingAjv : this.#ajv;
      validate = ajv.compile({ type: 'object', properties, required });
      this.#cache.set(key, validate);
    }
    return toResult(validate, structuredClone(parameters));
  }
}
