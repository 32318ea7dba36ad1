// Where an order goes: the shipping address of an /api/v2 order, one schema for
// the API that takes it and the command that carries it to shipping, so the
// command can never refuse what the API accepted.
import { z } from 'zod';
import { countryCodes } from './countries.js';
import { trimmedText } from './fields.js';

// Not blank, at most `max` characters as sent, trimmed: what the published schema says (fields.ts).
const line = (max: number) => trimmedText({ max });

export const shippingAddress = z
  .object({
    name: line(100),
    line1: line(200),
    line2: line(200).optional(),
    city: line(100),
    // Checked as sent (so the pattern is the whole rule), then trimmed of trailing spaces.
    postalCode: z
      .string()
      .max(20)
      .regex(/^[A-Za-z0-9][A-Za-z0-9 -]*$/, 'letters, digits, spaces and dashes')
      .overwrite((value) => value.trim()),
    country: z.enum(countryCodes, { error: 'an ISO 3166-1 alpha-2 country code such as FR' }),
  })
  .strict();
export type ShippingAddress = z.infer<typeof shippingAddress>;
