/** String formats the contracts use, registered once for TypeBox's compiled validators. */
import { FormatRegistry } from '@sinclair/typebox';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const dateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;

const formats: Record<string, (value: string) => boolean> = {
  uuid: (v) => uuid.test(v),
  'date-time': (v) => dateTime.test(v) && !Number.isNaN(Date.parse(v)),
  uri: (v) => URL.canParse(v),
};

for (const [name, check] of Object.entries(formats)) if (!FormatRegistry.Has(name)) FormatRegistry.Set(name, check);
