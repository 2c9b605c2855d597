import { z } from 'zod';
import { patientIdSchema } from '../fhir/fhir-id.js';
import { MAX_REASON_CODE_LENGTH } from '../store/judge-feedback.js';

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

const coding = z.object({ system: z.string().min(1).max(256), code: z.string().min(1).max(MAX_REASON_CODE_LENGTH), display: z.string().max(256).optional() });

/**
 * CDS Hooks 2.0 §Feedback, bounded (issue #12 item 3: an 8 MiB reason code went into the journal and memory):
 * at most 100 items a call, a reason code of at most 64 characters, a comment (never kept) of at most 4,000.
 */
export const feedbackSchema = z.object({
  feedback: z
    .array(
      z.object({
        card: z.uuid(),
        outcome: z.enum(['accepted', 'overridden']),
        acceptedSuggestions: z.array(z.object({ id: z.string().min(1).max(128) })).max(32).optional(),
        overrideReason: z.object({ reason: coding.optional(), userComment: z.string().max(4000).optional() }).optional(),
        outcomeTimestamp: z.iso.datetime({ offset: true }),
      }),
    )
    .min(1)
    .max(100),
});

export type FeedbackRequest = z.infer<typeof feedbackSchema>;
