/**
 * The Dapr component file format (`apiVersion: dapr.io/v1alpha1`, `kind: Component`), validated with zod so a bad
 * file stops start-up with the file and the field named.
 */
import { z } from 'zod';

/** One `spec.metadata` entry: a literal value or a secret reference (resolved from environment variables). */
export const metadataItemSchema = z
  .object({
    name: z.string().min(1),
    // Dapr accepts any YAML scalar and hands it to the component as a string.
    value: z.union([z.string(), z.number(), z.boolean()]).nullable().optional(),
    secretKeyRef: z.object({ name: z.string().min(1), key: z.string().optional() }).optional(),
  })
  .refine((m) => !(m.value !== undefined && m.value !== null && m.secretKeyRef), {
    message: 'set either value or secretKeyRef, not both',
  });

/**
 * A component name. Dapr takes any string here (its own tests use names with spaces, non-ASCII letters, quotes,
 * `+`, `=`, `:` and `@`, reached over HTTP through URL escaping); statecar refuses only what would break the
 * default data directory `./data/<name>`: path separators, `.` and `..`, and control characters.
 */
export const componentNameSchema = z
  .string({ error: 'required' })
  .min(1, 'required')
  // eslint-disable-next-line no-control-regex
  .refine((n) => !/[/\\\u0000-\u001f\u007f]/.test(n), 'must not contain "/", "\\" or control characters')
  .refine((n) => n !== '.' && n !== '..', 'must not be "." or ".."');

/** `spec.ignoreErrors`: a YAML bool (its string form is accepted too). */
const ignoreErrorsSchema = z
  .union([z.boolean(), z.enum(['true', 'false', 'True', 'False'])], { error: 'must be true or false' })
  .transform((v) => v === true || v === 'true' || v === 'True');

/** A component document. Unknown top-level fields are ignored as daprd does. */
export const componentSchema = z.object({
  apiVersion: z.literal('dapr.io/v1alpha1'),
  kind: z.literal('Component'),
  metadata: z.object({ name: componentNameSchema, namespace: z.string().optional() }, { error: 'required' }),
  spec: z.object(
    {
      type: z.string({ error: 'required (e.g. state.redis)' }).min(1, 'required (e.g. state.redis)'),
      version: z.string().default('v1'),
      ignoreErrors: ignoreErrorsSchema.optional(),
      // A Go duration (`5s`, `1m`); daprd falls back to its default for anything else, and so does statecar.
      initTimeout: z.union([z.string(), z.number()]).optional(),
      metadata: z.array(metadataItemSchema).nullable().default([]),
    },
    { error: 'required (with spec.type)' },
  ),
  scopes: z.array(z.string()).nullable().optional(),
});

export type ComponentDocument = z.infer<typeof componentSchema>;

/** daprd's init deadline for a component whose `spec.initTimeout` is absent or not a positive Go duration. */
export const DEFAULT_INIT_TIMEOUT_MS = 5000;

/** A validated component with its metadata resolved to a flat string map. */
export interface ComponentDefinition {
  name: string;
  type: string;
  version: string;
  /** The file it came from (for error messages). */
  file: string;
  /** Metadata as written: names keep the file's spelling (matched case-insensitively when the type reads them). */
  metadata: Record<string, string>;
  /** `spec.ignoreErrors`: a backend that fails to open is left out with a warning instead of stopping start-up. */
  ignoreErrors: boolean;
  /** `spec.initTimeout` in ms (default {@link DEFAULT_INIT_TIMEOUT_MS}): how long opening the backend may take. */
  initTimeoutMs: number;
}
