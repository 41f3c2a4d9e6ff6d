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

/** A component document. Unknown top-level fields are ignored as daprd does. */
export const componentSchema = z.object({
  apiVersion: z.literal('dapr.io/v1alpha1'),
  kind: z.literal('Component'),
  metadata: z.object({
    name: z
      .string()
      .min(1)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be letters, digits, ".", "_" or "-"'),
    namespace: z.string().optional(),
  }),
  spec: z.object({
    type: z.string().min(1),
    version: z.string().default('v1'),
    ignoreErrors: z.boolean().optional(),
    initTimeout: z.string().optional(),
    metadata: z.array(metadataItemSchema).nullable().default([]),
  }),
  scopes: z.array(z.string()).nullable().optional(),
});

export type ComponentDocument = z.infer<typeof componentSchema>;

/** A validated component with its metadata resolved to a flat string map. */
export interface ComponentDefinition {
  name: string;
  type: string;
  version: string;
  /** The file it came from (for error messages). */
  file: string;
  metadata: Record<string, string>;
}
