/** What the proving run needs of a running system: where it is, and the power to hurt it. */
import type { ServiceName } from '@msa-poc/contracts';
import type { PlatformConfig } from '@msa-poc/platform/config';

export interface SystemHandle {
  readonly config: PlatformConfig;
  /** Sends a signal to a service's process (SIGKILL, SIGSTOP, SIGCONT); false when it is not ours to signal. */
  signal(service: ServiceName, signal: NodeJS.Signals): boolean;
  /** Starts a service again after a kill, and waits until it is ready. */
  restart(service: ServiceName): Promise<void>;
}
