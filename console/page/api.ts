/** The page's view of the console API: typed reads and the one write, with problems turned into messages. */
import type { DeadLetterReplay, SupportGrant } from '@msa-poc/contracts';
import type { DeadLetterView } from '../dead-letters.js';
import type { SpanStoreStats, TraceDetail, TraceSummary } from '../span-store.js';
import type { EdgeTraffic, ServiceTraffic } from '../traffic.js';

export type { DeadLetterReplay, DeadLetterView, SupportGrant, EdgeTraffic, ServiceTraffic, SpanStoreStats, TraceDetail, TraceSummary };
export type { WaterfallSpan } from '../span-store.js';
export type { SeriesPoint } from '../traffic.js';

export interface ServicesAnswer {
  readonly windowSeconds: number;
  readonly bucketSeconds: number;
  readonly generatedAtUnixMs: number;
  readonly services: ServiceTraffic[];
  readonly spans: SpanStoreStats;
}

export interface SupportGrantsAnswer {
  readonly generatedAtUnixMs: number;
  readonly items: SupportGrant[];
}

export interface EdgesAnswer {
  readonly windowSeconds: number;
  readonly edges: EdgeTraffic[];
}

/** A failed call: the problem document's detail when there is one, so the page can show what to do. */
export class ApiError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

async function answer<T>(response: Response): Promise<T> {
  if (response.ok) return (await response.json()) as T;
  let message = `${response.status} ${response.statusText}`;
  try {
    const problem = (await response.json()) as { title?: string; detail?: string };
    message = problem.detail ?? problem.title ?? message;
  } catch {
    // not a problem document: the status line says enough
  }
  throw new ApiError(message, response.status);
}

export async function getJson<T>(path: string, query: Record<string, string | number | undefined> = {}, signal?: AbortSignal): Promise<T> {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== '') search.set(key, String(value));
  const text = search.toString();
  let response: Response;
  try {
    response = await fetch(text ? `${path}?${text}` : path, { headers: { accept: 'application/json' }, ...(signal ? { signal } : {}) });
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiError('The console does not answer: is it still running?', 0);
  }
  return answer<T>(response);
}

export async function replayDeadLetter(id: string): Promise<DeadLetterReplay> {
  return answer<DeadLetterReplay>(await fetch(`/api/dead-letters/${encodeURIComponent(id)}/replay`, { method: 'POST', headers: { accept: 'application/json' } }));
}
