/** Errors that carry a problem document: thrown anywhere, answered by the server as RFC 9457. */
import { problem, type Problem, type ProblemName } from '@msa-poc/contracts';

export class ProblemError extends Error {
  override readonly name = 'ProblemError';
  readonly problem: Problem;
  readonly headers: Readonly<Record<string, string>>;

  constructor(name: ProblemName, detail: string, options: { headers?: Record<string, string>; cause?: unknown; extra?: Partial<Problem> } = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.problem = problem(name, detail, options.extra);
    this.headers = options.headers ?? {};
  }

  get status(): number {
    return this.problem.status;
  }
}

/** A dependency failed to answer usefully: refused, reset, timed out, or broke its contract. */
export class UpstreamError extends ProblemError {
  readonly retryable: boolean;
  readonly peer: string;

  constructor(name: 'unavailable' | 'deadlineExceeded' | 'upstreamContract', peer: string, detail: string, options: { retryable: boolean; cause?: unknown; headers?: Record<string, string> }) {
    super(name, detail, options);
    this.retryable = options.retryable;
    this.peer = peer;
  }
}
