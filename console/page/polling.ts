import { useEffect, useRef, useState } from 'preact/hooks';

export interface Polled<T> {
  readonly data: T | undefined;
  readonly error: string | undefined;
  /** Loads again now (after a change the page made itself). */
  readonly refresh: () => void;
}

/**
 * Calls `load` at once and then every `everyMs` (and again whenever `key` changes), keeping the
 * latest answer and the latest error; a slower answer never overwrites a newer one.
 */
export function usePolling<T>(load: (signal: AbortSignal) => Promise<T>, everyMs: number, key = ''): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let current: AbortController | undefined;
    const run = () => {
      current?.abort();
      const controller = new AbortController();
      current = controller;
      loadRef.current(controller.signal).then(
        (value) => {
          if (controller.signal.aborted) return;
          setData(value);
          setError(undefined);
        },
        (failure: unknown) => {
          if (controller.signal.aborted) return;
          setError((failure as Error).message);
        },
      );
    };
    run();
    const timer = setInterval(run, everyMs);
    return () => {
      clearInterval(timer);
      current?.abort();
    };
  }, [everyMs, key, tick]);
  return { data, error, refresh: () => setTick((n) => n + 1) };
}
