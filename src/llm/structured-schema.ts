/**
 * zod schema → the JSON Schema OpenAI's strict structured outputs accept. zod 4's `z.toJSONSchema` produces the
 * schema (openai-node's `zodResponseFormat` broke with zod 4: openai-node#1576/#1602, so we do not use it); strict
 * mode then needs every object closed (`additionalProperties: false`) and every property listed in `required`, so
 * optional properties are sent as nullable. `restoreOptional` turns the nulls the model sends for them back into
 * absent keys before the zod schema validates the reply.
 */
import { z } from 'zod';
import { DeskhandError } from '../errors.ts';

type JsonSchema = Record<string, unknown>;

interface StrictSchema {
  schema: JsonSchema;
  /** Removes `null` values of properties that are optional in the zod schema (recursively). */
  restoreOptional: (value: unknown) => unknown;
}

const isObjectSchema = (node: JsonSchema) =>
  node.type === 'object' || (node.properties !== undefined && typeof node.properties === 'object');

function nullable(node: JsonSchema): JsonSchema {
  if (Array.isArray(node.anyOf) && node.anyOf.some((variant) => (variant as JsonSchema).type === 'null')) return node;
  if (node.type === 'null') return node;
  const { description, ...rest } = node;
  return { anyOf: [rest, { type: 'null' }], ...(description !== undefined ? { description } : {}) };
}

/** Rewrites a JSON Schema node for strict mode; returns the rewritten node. */
function strictify(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strictify);
  if (!node || typeof node !== 'object') return node;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node as JsonSchema)) {
    if (key === '$schema') continue;
    if (key === 'properties' && value && typeof value === 'object') {
      out.properties = Object.fromEntries(
        Object.entries(value as JsonSchema).map(([name, child]) => [name, strictify(child)]),
      );
    } else if (['items', 'anyOf', 'oneOf', 'allOf', 'prefixItems', '$defs', 'definitions'].includes(key)) {
      out[key] =
        key === '$defs' || key === 'definitions'
          ? Object.fromEntries(Object.entries(value as JsonSchema).map(([name, child]) => [name, strictify(child)]))
          : strictify(value);
    } else {
      out[key] = value;
    }
  }
  if (isObjectSchema(out)) {
    const properties = (out.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((out.required as string[] | undefined) ?? []);
    for (const name of Object.keys(properties)) {
      if (!required.has(name)) properties[name] = nullable(properties[name] ?? {});
    }
    out.properties = properties;
    out.required = Object.keys(properties);
    out.additionalProperties = false;
  }
  return out;
}

function restorer(node: unknown, definitions: JsonSchema): (value: unknown) => unknown {
  if (!node || typeof node !== 'object') return (value) => value;
  const schema = node as JsonSchema;
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.split('/').pop() ?? '';
    // Resolved lazily so recursive schemas do not recurse forever while building.
    return (value) => restorer(definitions[name], definitions)(value);
  }
  if (isObjectSchema(schema)) {
    const required = new Set((schema.required as string[] | undefined) ?? []);
    const children = Object.entries((schema.properties ?? {}) as JsonSchema).map(
      ([name, child]) => [name, restorer(child, definitions), required.has(name)] as const,
    );
    return (value) => {
      if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
      const record = { ...(value as Record<string, unknown>) };
      for (const [name, restore, isRequired] of children) {
        if (!(name in record)) continue;
        if (record[name] === null && !isRequired) delete record[name];
        else record[name] = restore(record[name]);
      }
      return record;
    };
  }
  if (schema.items && typeof schema.items === 'object') {
    const restore = restorer(schema.items, definitions);
    return (value) => (Array.isArray(value) ? value.map(restore) : value);
  }
  const variants = (schema.anyOf ?? schema.oneOf) as unknown[] | undefined;
  if (Array.isArray(variants)) {
    const objectVariant = variants.find(
      (variant) => variant && typeof variant === 'object' && isObjectSchema(variant as JsonSchema),
    );
    if (objectVariant) return restorer(objectVariant, definitions);
  }
  return (value) => value;
}

/**
 * The strict JSON Schema for a zod schema whose root is an object (OpenAI requires `type: "object"` at the root),
 * and the function that maps the model's nulls back to absent optional properties.
 */
export function toStrictJsonSchema(schema: z.ZodType): StrictSchema {
  let generated: JsonSchema;
  try {
    generated = z.toJSONSchema(schema, {
      target: 'draft-2020-12',
      io: 'input',
      unrepresentable: 'throw',
    }) as JsonSchema;
  } catch (error) {
    throw new DeskhandError(
      'internal',
      `This zod schema cannot be expressed as JSON Schema: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (generated.type !== 'object') {
    throw new DeskhandError('internal', 'Structured outputs need a zod object at the root of the schema');
  }
  const definitions = (generated.$defs ?? {}) as JsonSchema;
  return { schema: strictify(generated) as JsonSchema, restoreOptional: restorer(generated, definitions) };
}
