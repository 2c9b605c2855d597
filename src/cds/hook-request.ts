import { z } from 'zod';
import { patientIdSchema } from '../fhir/fhir-id.js';

/** A CDS Hooks 2.0 service call for the patient-view hook (patient-view 1.0 context). */
export const hookRequestSchema = z
  .object({
    hook: z.string().min(1),
    hookInstance: z.uuid({ message: 'hookInstance must be a UUID' }),
    fhirServer: z.url({ protocol: /^https?$/, message: 'fhirServer must be an http(s) URL' }).optional(),
    fhirAuthorization: z
      .object({
        access_token: z.string().min(1),
        token_type: z.literal('Bearer'),
        expires_in: z.number().int().nonnegative(),
        scope: z.string().min(1),
        subject: z.string().min(1),
        patient: z.string().optional(),
      })
      .optional(),
    context: z.object({
      userId: z.string().optional(),
      patientId: patientIdSchema,
      encounterId: z.string().optional(),
    }),
    prefetch: z.record(z.string(), z.unknown().nullable()).optional(),
  })
  .refine((r) => !r.fhirAuthorization || r.fhirServer, {
    message: 'fhirServer is required when fhirAuthorization is present',
    path: ['fhirServer'],
  });

export type HookRequest = z.infer<typeof hookRequestSchema>;

const coding = z.object({ system: z.string().min(1), code: z.string().min(1), display: z.string().optional() });

/** CDS Hooks 2.0 §Feedback. */
export const feedbackSchema = z.object({
  feedback: z
    .array(
      z.object({
        card: z.uuid(),
        outcome: z.enum(['accepted', 'overridden']),
        acceptedSuggestions: z.array(z.object({ id: z.string() })).optional(),
        overrideReason: z.object({ reason: coding.optional(), userComment: z.string().optional() }).optional(),
        outcomeTimestamp: z.iso.datetime({ offset: true }),
      }),
    )
    .min(1),
});

export type FeedbackRequest = z.infer<typeof feedbackSchema>;
