/** One readable, coloured stream from every service's JSON log lines. */
import type { ServiceName } from '@msa-poc/contracts';

const colours: Record<string, number> = { gateway: 36, orders: 32, store: 35, integration: 33, partner: 34, console: 37 };
const levelColours: Record<string, number> = { trace: 90, debug: 90, info: 0, warn: 33, error: 31, fatal: 41 };
const hidden = new Set(['level', 'time', 'service', 'msg', 'pid', 'hostname']);

export function formatLine(service: ServiceName | 'console', line: string, colour: boolean): string {
  const paint = (code: number, text: string) => (colour && code ? `\u001b[${code}m${text}\u001b[0m` : text);
  const prefix = paint(colours[service] ?? 0, `[${service}]`.padEnd(14));
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `${prefix} ${line}`;
  }
  const level = String(record.level ?? 'info');
  const time = typeof record.time === 'string' ? record.time.slice(11, 23) : '';
  const fields = Object.entries(record)
    .filter(([key]) => !hidden.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  return `${prefix} ${time} ${paint(levelColours[level] ?? 0, level.padEnd(5))} ${String(record.msg ?? '')}${fields ? ` ${paint(90, fields)}` : ''}`;
}
