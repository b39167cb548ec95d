/** How the page writes numbers and times: short, with units, the same everywhere. */

export function formatRate(perSecond: number): string {
  if (perSecond === 0) return '0/s';
  if (perSecond < 0.1) return `${(perSecond * 60).toFixed(1)}/min`;
  return `${perSecond < 10 ? perSecond.toFixed(1) : Math.round(perSecond)}/s`;
}

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function formatPercent(percent: number | null | undefined): string {
  if (percent === null || percent === undefined) return '–';
  if (percent === 0) return '0 %';
  return `${percent < 1 ? percent.toFixed(2) : percent < 10 ? percent.toFixed(1) : Math.round(percent)} %`;
}

export function formatClock(unixMs: number): string {
  return new Date(unixMs).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function formatDateTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

/** A stable colour per service: the topology's services get fixed ones, others one picked by name. */
const palette: Record<string, string> = {
  gateway: '#2563eb', orders: '#7c3aed', store: '#059669', integration: '#d97706', partner: '#db2777', database: '#475569', console: '#0891b2',
};
const spare = ['#0d9488', '#9333ea', '#ca8a04', '#dc2626', '#4f46e5', '#65a30d'];

export function serviceColour(name: string): string {
  const known = palette[name];
  if (known) return known;
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return spare[hash % spare.length]!;
}
