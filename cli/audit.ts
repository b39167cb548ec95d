/**
 * `poc audit tail|verify`: the audit trail through the gateway's admin port (loopback only). `verify`
 * reads the whole hash chain and checks every link itself, so it trusts neither the store's code nor
 * its hashes; it prints the head, which can be recorded elsewhere and given back as `--anchor` later.
 */
import { parseArgs } from 'node:util';
import { describeChainBreak, verifyAuditChain, type ChainVerdict } from '@msa-poc/platform/audit-chain';
import type { PlatformConfig } from '@msa-poc/platform/config';
import { readAudit, readAuditChain, type AuditLine } from './clients.js';
import { print, UsageError } from './command.js';

export async function auditCommand(args: string[], configFor: (profile: string | undefined) => PlatformConfig): Promise<number> {
  const [action, ...rest] = args;
  switch (action) {
    case 'tail':
      return tail(rest, configFor);
    case 'verify':
      return verify(rest, configFor);
    default:
      throw new UsageError(`audit takes tail or verify${action ? `, not "${action}"` : ''}`);
  }
}

async function tail(args: string[], configFor: (profile: string | undefined) => PlatformConfig): Promise<number> {
  const { values } = parseArgs({ args, options: { profile: { type: 'string' }, json: { type: 'boolean', default: false }, limit: { type: 'string', default: '50' }, follow: { type: 'boolean', default: false } }, strict: true });
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError(`--limit must be a whole number from 1 to 1000, not "${values.limit}"`);
  const config = configFor(values.profile);
  const show = (lines: AuditLine[]) => {
    for (const l of lines) {
      print(values.json, l, `${l.at}  ${l.actor.padEnd(14)} ${l.action.padEnd(16)} ${l.outcome.padEnd(9)} ${(l.target ?? '').padEnd(44)} ${l.detail ?? ''}${l.requestId ? `  request ${l.requestId}` : ''}`);
    }
  };
  let lines = await readAudit(config, undefined, limit);
  show(lines);
  let after = lines.at(-1)?.position ?? 0;
  while (values.follow) {
    await new Promise((r) => setTimeout(r, 1_000));
    lines = await readAudit(config, after, 1_000);
    show(lines);
    after = lines.at(-1)?.position ?? after;
  }
  return 0;
}

const anchorPattern = /^([1-9][0-9]*):([0-9a-f]{64})$/;

async function verify(args: string[], configFor: (profile: string | undefined) => PlatformConfig): Promise<number> {
  const { values } = parseArgs({ args, options: { profile: { type: 'string' }, json: { type: 'boolean', default: false }, anchor: { type: 'string' } }, strict: true });
  const anchor = values.anchor === undefined ? undefined : anchorPattern.exec(values.anchor);
  if (anchor === null) throw new UsageError(`--anchor must be a head as verify prints it, POSITION:HASH (64 hex digits), not "${values.anchor}"`);
  const config = configFor(values.profile);
  const verdict = await verifyAuditTrail(config, {
    ...(anchor ? { anchor: { position: Number(anchor[1]), hash: anchor[2] as string } } : {}),
    onProgress: (checked, headPosition) => {
      if (!values.json) process.stderr.write(`poc: ${checked} records verified (the head is at ${headPosition})\n`);
    },
  });
  print(values.json, verdict, verdictText(verdict));
  return verdict.ok ? 0 : 1;
}

/** Reads and checks the whole chain, a page at a time. */
export function verifyAuditTrail(config: PlatformConfig, options: Parameters<typeof verifyAuditChain>[1] = {}): Promise<ChainVerdict> {
  return verifyAuditChain((after, limit) => readAuditChain(config, after, limit), { pageSize: 2_000, ...options });
}

function verdictText(verdict: ChainVerdict): string {
  if (verdict.ok) {
    return `audit chain intact: ${verdict.checked} records, every link checked.\nhead ${verdict.head.position}:${verdict.head.hash}\n`
      + 'Record this head somewhere the database cannot reach; `poc audit verify --anchor <head>` later proves that nothing up to it was rewritten.';
  }
  const { broken } = verdict;
  return `audit chain BROKEN at record ${broken.position} (${verdict.checked} records before it verified):\n${describeChainBreak(broken)}\nexpected ${broken.expected}\nfound    ${broken.found}`;
}
