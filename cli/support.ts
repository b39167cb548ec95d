/**
 * `poc support …`: support access from the command line, as a registered API client whose key lives
 * under the keys directory (`<id>.client.jwk`, as `poc client add ID --role …` creates it). Every
 * subcommand calls the public API, exactly as any other client of it would.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { PlatformConfig } from '@msa-poc/platform/config';
import { ApiClient, loadOrCreateClientKey, type ApiResponse } from '@msa-poc/harness/api-client';

export const supportUsage = `  support request --client ID --customer ID --ticket ID --reason TEXT [--duration SECONDS]
                                   ask for time-bound access to one customer (default 900 s, at most 3600)
  support approve|reject|revoke GRANT --client ID
                                   decide a request (a support lead other than the requester), or end it
  support break-glass --client ID --customer ID --incident ID --reason TEXT [--duration SECONDS]
                                   open access at once for an incident, without approval (default and at most 900 s);
                                   it stays unreviewed until a support lead reviews it
  support review GRANT --client ID --outcome justified|unjustified --note TEXT
                                   review a break-glass grant (a support lead other than the requester)
  support grants --client ID       the requests and grants this client may see
  support log GRANT --client ID    every response served under the grant, as served (masked), with its audit position
  support token GRANT --client ID [--curl METHOD PATH]
                                   exchange the client's token for a support token under an approved grant
`;

interface Grant {
  id: string;
  requester: string;
  customerId: string;
  ticketId: string;
  status: string;
  expiresAt?: string;
  decidedBy?: string;
  breakGlass: boolean;
  reviewStatus?: string;
  reviewOutcome?: string;
}

const describe = (g: Grant) => `${g.id}  ${g.status.padEnd(8)} customer ${g.customerId}  ${g.breakGlass ? 'incident' : 'ticket'} ${g.ticketId}  by ${g.requester}${g.expiresAt ? `  until ${g.expiresAt}` : ''}${
  g.breakGlass ? `  BREAK-GLASS ${g.reviewStatus === 'reviewed' ? `reviewed ${g.reviewOutcome ?? ''}` : 'unreviewed'}` : ''}`;

/** The body of a refusal, as the API put it: a problem's detail or an OAuth error. */
function refusal(reply: ApiResponse): Error {
  const body = (reply.body ?? {}) as { detail?: string; title?: string; error?: string; error_description?: string };
  return new Error(`refused (${reply.status}): ${body.detail ?? body.error_description ?? body.title ?? body.error ?? 'no detail'}`);
}

export async function support(args: string[], configFor: (profile: string | undefined) => PlatformConfig, usageError: (message: string) => Error): Promise<number> {
  const [action, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest, allowPositionals: true, strict: true,
    options: {
      profile: { type: 'string' }, json: { type: 'boolean', default: false }, client: { type: 'string' }, customer: { type: 'string' }, ticket: { type: 'string' },
      reason: { type: 'string' }, duration: { type: 'string', default: '900' }, curl: { type: 'boolean', default: false },
      incident: { type: 'string' }, outcome: { type: 'string' }, note: { type: 'string' },
    },
  });
  if (!values.client) throw usageError(`support ${action ?? ''} needs --client ID: the registered client to act as`);
  const config = configFor(values.profile);
  const print = (value: unknown, text: string) => process.stdout.write(`${values.json ? JSON.stringify(value) : text}\n`);
  const api = new ApiClient(config.endpoints.gateway.url, values.client, loadOrCreateClientKey(config.keysDir, values.client), readFileSync(join(config.pkiDir, 'ca.crt'), 'utf8'));
  try {
    switch (action) {
      case 'request': {
        const durationSeconds = Number(values.duration);
        if (!values.customer || !values.ticket || !values.reason) throw usageError('support request needs --customer, --ticket and --reason');
        if (!Number.isInteger(durationSeconds) || durationSeconds < 60 || durationSeconds > 3600) throw usageError(`--duration must be whole seconds from 60 to 3600, not "${values.duration}"`);
        const reply = await api.call<Grant>('POST', '/v1/support/access-requests', { body: { customerId: values.customer, ticketId: values.ticket, reason: values.reason, actions: ['orders:read'], durationSeconds } });
        if (reply.status !== 201) throw refusal(reply);
        print(reply.body, `requested ${reply.body.id}: a support lead approves it with \`poc support approve ${reply.body.id} --client LEAD\``);
        return 0;
      }
      case 'break-glass': {
        const durationSeconds = Number(values.duration);
        if (!values.customer || !values.incident || !values.reason) throw usageError('support break-glass needs --customer, --incident and --reason');
        // A longer duration is left to the API, whose refusal says why and what to do instead.
        if (!Number.isInteger(durationSeconds) || durationSeconds < 60) throw usageError(`--duration must be whole seconds from 60 to 900, not "${values.duration}"`);
        const reply = await api.call<Grant>('POST', '/v1/support/break-glass', { body: { customerId: values.customer, incidentId: values.incident, reason: values.reason, durationSeconds } });
        if (reply.status !== 201) throw refusal(reply);
        print(reply.body, `break-glass ${reply.body.id} open until ${reply.body.expiresAt ?? '?'}; it is audited and stays unreviewed until a support lead runs \`poc support review ${reply.body.id} --client LEAD --outcome justified|unjustified --note TEXT\``);
        return 0;
      }
      case 'review': {
        const [id] = positionals;
        if (!id) throw usageError('support review takes the grant id');
        if (values.outcome !== 'justified' && values.outcome !== 'unjustified') throw usageError(`support review needs --outcome justified or unjustified${values.outcome ? `, not "${values.outcome}"` : ''}`);
        if (!values.note) throw usageError('support review needs --note TEXT: what the review found');
        const reply = await api.call<Grant>('POST', `/v1/support/break-glass/${encodeURIComponent(id)}/review`, { body: { outcome: values.outcome, note: values.note } });
        if (reply.status !== 200) throw refusal(reply);
        print(reply.body, describe(reply.body));
        return 0;
      }
      case 'approve':
      case 'reject':
      case 'revoke': {
        const [id] = positionals;
        if (!id) throw usageError(`support ${action} takes the grant id`);
        const reply = await api.call<Grant>('POST', `/v1/support/access-requests/${encodeURIComponent(id)}/${action}`);
        if (reply.status !== 200) throw refusal(reply);
        print(reply.body, describe(reply.body));
        return 0;
      }
      case 'grants': {
        const reply = await api.call<{ items: Grant[] }>('GET', '/v1/support/grants');
        if (reply.status !== 200) throw refusal(reply);
        print(reply.body.items, reply.body.items.map(describe).join('\n') || 'no access requests');
        return 0;
      }
      case 'log': {
        const [id] = positionals;
        if (!id) throw usageError('support log takes the grant id');
        type Log = { grant: Grant; items: { auditPosition: number; servedAt: string; route: string; status: number; body: unknown }[]; nextAfter?: number };
        let page: ApiResponse<Log> | undefined;
        const items: Log['items'] = [];
        do {
          const after = page?.body.nextAfter ?? 0;
          page = await api.call<Log>('GET', `/v1/support/grants/${encodeURIComponent(id)}/log?after=${after}&limit=200`);
          if (page.status !== 200) throw refusal(page);
          items.push(...page.body.items);
        } while (page.body.nextAfter !== undefined);
        const lines = items.map((item) => `#${item.auditPosition}  ${item.servedAt}  ${item.status}  ${item.route}\n${JSON.stringify(item.body, null, 2)}`);
        print({ grant: page.body.grant, items }, [describe(page.body.grant), ...(lines.length ? lines : ['nothing served under this grant'])].join('\n'));
        return 0;
      }
      case 'token': {
        const [id, method, path] = positionals;
        if (!id) throw usageError('support token takes the grant id');
        const reply = await api.supportToken(id);
        if (reply.status !== 200 || !reply.body.access_token) throw refusal(reply);
        const token = reply.body.access_token;
        if (!values.curl) {
          print(reply.body, token);
          return 0;
        }
        if (!method || !path || !path.startsWith('/v1/')) throw usageError('--curl takes a method and a path, e.g. poc support token GRANT --client ID --curl GET "/v1/orders?customerId=cust-42"');
        const url = `${config.endpoints.gateway.url}${path}`;
        const quote = (value: string) => `'${value.replaceAll("'", "'\\''")}'`;
        const line = ['curl', '-sS', '--cacert', quote(join(config.pkiDir, 'ca.crt')), '-X', method.toUpperCase(),
          '-H', quote(`Authorization: DPoP ${token}`), '-H', quote(`DPoP: ${api.proof(method.toUpperCase(), url, token)}`), quote(url)].join(' ');
        print({ curl: line }, line);
        return 0;
      }
      default:
        throw usageError(`support takes request, approve, reject, revoke, break-glass, review, grants, log or token${action ? `, not "${action}"` : ''}`);
    }
  } finally {
    await api.close();
  }
}
