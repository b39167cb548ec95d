/** What the proving run needs of a system: where it is, and, when the run started it, the power to hurt it. */
import type { ServiceName } from '@msa-poc/contracts';

export interface SystemProcesses {
  /** Sends a signal to a service's process (SIGKILL, SIGSTOP, SIGCONT); false when it is not ours to signal. */
  signal(service: ServiceName, signal: NodeJS.Signals): boolean;
  /** Starts a service again after a kill, and waits until it is ready. */
  restart(service: ServiceName): Promise<void>;
  /** The services hosted by the same process as `service`, itself included: a signal to one reaches them all. */
  sharing(service: ServiceName): readonly ServiceName[];
}

export interface SystemHandle {
  /** What is being proved, in words the report prints. */
  readonly description: string;
  readonly profile: 'embedded' | 'production' | 'unknown';
  /** Admin endpoint per service (metrics; the partner's fault switch and ledger), where this run can reach them. */
  readonly adminUrls: Partial<Readonly<Record<ServiceName, string>>>;
  /** Present only when this run started the processes: faults that kill or pause one need it. */
  readonly processes?: SystemProcesses;
}
