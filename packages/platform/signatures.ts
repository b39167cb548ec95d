/**
 * HTTP Message Signatures (RFC 9421) with Ed25519, and Content-Digest (RFC 9530), on node:crypto alone.
 * The integration service signs its calls to the partner; the gateway verifies the partner's callbacks.
 * Each party holds its own private key and the other's public key: there is no shared secret to leak.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, timingSafeEqual, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, link, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

export type HeaderValue = string | string[] | undefined;

export interface SignRequestInput {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  keyId: string;
  privateKey: KeyObject;
  now?: Date;
  expiresInSeconds?: number;
  nonce?: string;
  tag?: string;
}

export interface VerifyRequestInput {
  method: string;
  url: string;
  /** Lower-case names, as node:http delivers them. */
  headers: Record<string, HeaderValue>;
  body?: string | Uint8Array;
  resolveKey: (keyId: string) => KeyObject | undefined;
  now?: Date;
  maxAgeSeconds?: number;
  requiredComponents?: string[];
  /** Returns true when the nonce was already seen (a replay); otherwise remembers it for ttlMs. */
  seenNonce?: (nonce: string, ttlMs: number) => boolean;
}

export type VerifyResult = { ok: true; keyId: string; label: string } | { ok: false; reason: string };

const LABEL = 'sig1';
const DEFAULT_TAG = 'msa-poc';
const DEFAULT_LIFETIME_SECONDS = 300;
const CLOCK_SKEW_SECONDS = 60;
// Each signature costs an Ed25519 verification; a message carrying dozens is an attack, not a use case.
const MAX_SIGNATURES = 8;

/** RFC 9530 Content-Digest of the body with sha-256: `sha-256=:<base64>:`. */
export function contentDigest(body: Uint8Array | string): string {
  return `sha-256=:${createHash('sha256').update(toBytes(body)).digest('base64')}:`;
}

/**
 * Signs a request and returns the headers to add to it: `content-digest` (when there is a body),
 * `signature-input` and `signature`, under the label `sig1`. Throws on programming errors
 * (wrong key type, a body without content-type, values that cannot be carried in a header).
 */
export function signRequest(input: SignRequestInput): Record<string, string> {
  const { privateKey } = input;
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new TypeError('signRequest needs an Ed25519 private key');
  }
  const lifetime = input.expiresInSeconds ?? DEFAULT_LIFETIME_SECONDS;
  if (!Number.isInteger(lifetime) || lifetime <= 0) throw new TypeError(`expiresInSeconds must be a positive whole number, not ${lifetime}`);
  const headers = lowerCaseHeaders(input.headers);
  const body = input.body === undefined ? undefined : toBytes(input.body);
  const added: Record<string, string> = {};
  const components = ['@method', '@target-uri'];
  if (body !== undefined && body.length > 0) {
    if (headers['content-type'] === undefined) throw new TypeError('a request with a body must carry a content-type header to be signed');
    added['content-digest'] = contentDigest(body);
    headers['content-digest'] = added['content-digest'];
    components.push('content-digest', 'content-type');
  }
  const created = Math.floor((input.now ?? new Date()).getTime() / 1000);
  const params: Params = new Map<string, BareItem>([
    ['created', { type: 'integer', value: created }],
    ['expires', { type: 'integer', value: created + lifetime }],
    ['keyid', { type: 'string', value: input.keyId }],
    ['alg', { type: 'string', value: 'ed25519' }],
    ['nonce', { type: 'string', value: input.nonce ?? randomBytes(16).toString('base64url') }],
    ['tag', { type: 'string', value: input.tag ?? DEFAULT_TAG }],
  ]);
  const covered: InnerList = { kind: 'list', items: components.map((name) => stringItem(name)), params };
  let base: string;
  let signatureParams: string;
  try {
    signatureParams = serializeInnerList(covered);
    base = buildSignatureBase(covered, { method: input.method, url: parseTargetUrl(input.url), headers });
  } catch (error) {
    if (error instanceof Rejection) throw new TypeError(`cannot sign: ${error.message}`);
    throw error;
  }
  const signature = sign(null, Buffer.from(base, 'latin1'), privateKey);
  added['signature-input'] = `${LABEL}=${signatureParams}`;
  added['signature'] = `${LABEL}=:${signature.toString('base64')}:`;
  return added;
}

/**
 * Verifies a signed request. Malformed or hostile input yields `{ ok: false, reason }`, never a throw;
 * exceptions from the caller's own callbacks (resolveKey, seenNonce) propagate, since they are not
 * the sender's fault and must not turn into an authentication failure.
 */
export function verifyRequest(input: VerifyRequestInput): VerifyResult {
  try {
    return verifyOrReject(input);
  } catch (error) {
    if (error instanceof Rejection) return { ok: false, reason: error.message };
    throw error;
  }
}

/**
 * The RFC 9421 §2.5 signature base that the signature labelled `label` in `signatureInput` covers.
 * Exposed so that the base can be checked against published test vectors byte for byte.
 */
export function signatureBase(input: {
  method: string;
  url: string;
  headers: Record<string, HeaderValue>;
  signatureInput: string;
  label: string;
}): { ok: true; base: string } | { ok: false; reason: string } {
  try {
    const member = parseField('Signature-Input', input.signatureInput).get(input.label);
    if (member === undefined) throw new Rejection(`Signature-Input has no label "${input.label}"`);
    if (member.kind !== 'list') throw new Rejection(`Signature-Input "${input.label}" is not an inner list of components`);
    return { ok: true, base: buildSignatureBase(member, messageOf(input)) };
  } catch (error) {
    if (error instanceof Rejection) return { ok: false, reason: error.message };
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Verification

class Rejection extends Error {}

interface Message {
  method: string;
  url: URL;
  headers: Record<string, HeaderValue>;
}

function verifyOrReject(input: VerifyRequestInput): VerifyResult {
  const nowSeconds = (input.now ?? new Date()).getTime() / 1000;
  const maxAge = input.maxAgeSeconds ?? DEFAULT_LIFETIME_SECONDS;
  // NaN would make every time comparison false and so switch the time checks off: a caller bug, thrown.
  if (!Number.isFinite(nowSeconds)) throw new TypeError('verifyRequest: now is an invalid date');
  if (!Number.isFinite(maxAge) || maxAge <= 0) throw new TypeError(`verifyRequest: maxAgeSeconds must be a positive number, not ${maxAge}`);
  const body = toBytes(input.body ?? '');
  const required = input.requiredComponents ?? (body.length > 0 ? ['@method', '@target-uri', 'content-digest'] : ['@method', '@target-uri']);
  const message = messageOf(input);

  const inputField = combinedField(message.headers, 'signature-input');
  if (inputField === undefined) throw new Rejection('the request has no Signature-Input header');
  const signatureField = combinedField(message.headers, 'signature');
  if (signatureField === undefined) throw new Rejection('the request has no Signature header');
  const inputs = parseField('Signature-Input', inputField);
  const signatures = parseField('Signature', signatureField);
  if (inputs.size === 0) throw new Rejection('Signature-Input names no signature');
  if (inputs.size > MAX_SIGNATURES) throw new Rejection(`Signature-Input names ${inputs.size} signatures; at most ${MAX_SIGNATURES} are accepted`);

  // A digest that contradicts the body is wrong whether or not a signature covers it.
  const digestField = combinedField(message.headers, 'content-digest');
  if (digestField !== undefined) checkContentDigest(digestField, body);

  // Several labels can coexist (an intermediary may add its own); the first one that passes every check wins.
  const failures: string[] = [];
  for (const [label, member] of inputs) {
    try {
      return verifyOne(label, member, signatures.get(label), message, { nowSeconds, maxAge, required, input });
    } catch (error) {
      if (!(error instanceof Rejection)) throw error;
      failures.push(inputs.size === 1 ? error.message : `${label}: ${error.message}`);
    }
  }
  throw new Rejection(failures.join('; '));
}

function verifyOne(
  label: string,
  member: Member,
  signatureMember: Member | undefined,
  message: Message,
  policy: { nowSeconds: number; maxAge: number; required: string[]; input: VerifyRequestInput },
): VerifyResult {
  if (member.kind !== 'list') throw new Rejection(`Signature-Input "${label}" is not an inner list of components`);
  if (signatureMember === undefined) throw new Rejection(`the Signature header has no value for label "${label}"`);
  if (signatureMember.kind !== 'item' || signatureMember.value.type !== 'bytes') {
    throw new Rejection(`Signature "${label}" is not a byte sequence (:base64:)`);
  }

  const keyId = stringParam(member.params, 'keyid');
  if (keyId === undefined) throw new Rejection('the signature has no keyid parameter');
  const alg = stringParam(member.params, 'alg');
  if (alg !== undefined && alg !== 'ed25519') throw new Rejection(`alg "${alg}" is not accepted; only ed25519 is`);
  const created = integerParam(member.params, 'created');
  if (created === undefined) throw new Rejection('the signature has no created parameter');
  const expires = integerParam(member.params, 'expires');
  const nonce = stringParam(member.params, 'nonce');
  stringParam(member.params, 'tag');

  const { nowSeconds, maxAge } = policy;
  if (created > nowSeconds + CLOCK_SKEW_SECONDS) {
    throw new Rejection(`the signature was created ${Math.round(created - nowSeconds)} s in the future (allowed clock skew is ${CLOCK_SKEW_SECONDS} s)`);
  }
  if (created < nowSeconds - maxAge) {
    throw new Rejection(`the signature is too old: created ${Math.round(nowSeconds - created)} s ago, at most ${maxAge} s is accepted`);
  }
  if (expires !== undefined && nowSeconds > expires) {
    throw new Rejection(`the signature expired ${Math.round(nowSeconds - expires)} s ago`);
  }

  const base = buildSignatureBase(member, message);
  for (const name of policy.required) {
    const covers = member.items.some((item) => item.value.type === 'string' && item.value.value === name && item.params.size === 0);
    if (!covers) throw new Rejection(`the signature does not cover the required component "${name}"`);
  }

  const key = policy.input.resolveKey(keyId);
  if (key === undefined) throw new Rejection(`unknown keyid "${keyId}"`);
  if (key.asymmetricKeyType !== 'ed25519') throw new Rejection(`the key for keyid "${keyId}" is not an Ed25519 key`);
  const signature = signatureMember.value.value;
  if (signature.length !== 64) throw new Rejection(`the signature is ${signature.length} bytes; an Ed25519 signature is 64`);
  if (!verify(null, Buffer.from(base, 'latin1'), key, signature)) {
    throw new Rejection(`the signature does not match the signed components (wrong key, or the request was altered)`);
  }

  // Only after the signature holds: otherwise anyone could burn a legitimate sender's nonce in advance.
  if (policy.input.seenNonce !== undefined) {
    if (nonce === undefined) throw new Rejection('the signature has no nonce, and replay protection requires one');
    const acceptableUntil = Math.min(created + maxAge, expires ?? Number.POSITIVE_INFINITY);
    // One second on top covers the rounding of created to whole seconds.
    const ttlMs = Math.max(0, Math.ceil((acceptableUntil - nowSeconds) * 1000)) + 1000;
    if (policy.input.seenNonce(nonce, ttlMs)) throw new Rejection('the nonce was already used: the request is a replay');
  }
  return { ok: true, keyId, label };
}

function stringParam(params: Params, name: string): string | undefined {
  const value = params.get(name);
  if (value === undefined) return undefined;
  if (value.type !== 'string') throw new Rejection(`the ${name} parameter must be a string`);
  return value.value;
}

function integerParam(params: Params, name: string): number | undefined {
  const value = params.get(name);
  if (value === undefined) return undefined;
  if (value.type !== 'integer') throw new Rejection(`the ${name} parameter must be an integer`);
  return value.value;
}

function checkContentDigest(field: string, body: Buffer): void {
  const digests = parseField('Content-Digest', field);
  let checked = 0;
  for (const [algorithm, member] of digests) {
    if (member.kind !== 'item' || member.value.type !== 'bytes') throw new Rejection(`Content-Digest "${algorithm}" is not a byte sequence (:base64:)`);
    const hash = algorithm === 'sha-256' ? 'sha256' : algorithm === 'sha-512' ? 'sha512' : undefined;
    // RFC 9530 §2: algorithms a recipient does not support are ignored.
    if (hash === undefined) continue;
    const expected = createHash(hash).update(body).digest();
    const received = member.value.value;
    if (received.length !== expected.length || !timingSafeEqual(received, expected)) throw new Rejection('content-digest does not match the body');
    checked++;
  }
  if (checked === 0) throw new Rejection('content-digest carries no sha-256 or sha-512 digest');
}

// ---------------------------------------------------------------------------------------------
// The signature base (RFC 9421 §2.5)

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const LOWER_FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

function messageOf(input: { method: string; url: string; headers: Record<string, HeaderValue> }): Message {
  return { method: input.method, url: parseTargetUrl(input.url), headers: input.headers };
}

function parseTargetUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Rejection(`"${url}" is not an absolute URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Rejection(`"${url}" is not an http or https URL`);
  return parsed;
}

function buildSignatureBase(covered: InnerList, message: Message): string {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const component of covered.items) {
    if (component.value.type !== 'string') throw new Rejection('covered components must be quoted strings');
    const id = serializeItem(component);
    if (seen.has(id)) throw new Rejection(`the component ${id} is covered more than once`);
    seen.add(id);
    lines.push(`${id}: ${componentValue(component.value.value, component.params, message)}`);
  }
  lines.push(`"@signature-params": ${serializeInnerList(covered)}`);
  return lines.join('\n');
}

function componentValue(name: string, params: Params, message: Message): string {
  if (params.size > 0) throw new Rejection(`component parameters (on "${name}") are not supported`);
  const { url } = message;
  switch (name) {
    case '@method':
      // §2.2.1: the method is used as is, case included.
      if (!TOKEN.test(message.method)) throw new Rejection('the request method is not a valid HTTP method');
      return message.method;
    case '@target-uri':
      // The parsed form: scheme and host lower-cased, default port dropped, no userinfo or fragment,
      // so that signer and verifier agree however each spelled the same URI.
      return `${url.protocol}//${url.host}${url.pathname}${url.search}`;
    case '@authority':
      return url.host;
    case '@scheme':
      return url.protocol.slice(0, -1);
    case '@request-target':
      return `${url.pathname}${url.search}`;
    case '@path':
      return url.pathname;
    case '@query':
      return url.search === '' ? '?' : url.search;
    case '@signature-params':
      throw new Rejection('"@signature-params" cannot be a covered component');
    case '@status':
      throw new Rejection('"@status" belongs to responses and cannot be covered in a request');
  }
  if (name.startsWith('@')) throw new Rejection(`the derived component "${name}" is not supported`);
  if (!LOWER_FIELD_NAME.test(name)) throw new Rejection(`"${name}" is not a valid component name (header names are covered in lower case)`);
  const value = fieldValue(message.headers, name);
  if (value === undefined) throw new Rejection(`the covered header "${name}" is absent`);
  return value;
}

/** §2.1: each field line trimmed, obsolete folding replaced by a space, lines joined with ", ". */
function fieldValue(headers: Record<string, HeaderValue>, name: string): string | undefined {
  const lines = fieldLines(headers, name);
  if (lines === undefined) return undefined;
  return lines
    .map((line) => {
      const value = line.replace(/\r?\n[ \t]+/g, ' ').replace(/^[ \t]+|[ \t]+$/g, '');
      // A line break would let a header value forge extra lines of the signature base.
      if (/[^\t\x20-\x7e]/.test(value)) throw new Rejection(`the header "${name}" contains a line break, control or non-ASCII character`);
      return value;
    })
    .join(', ');
}

function combinedField(headers: Record<string, HeaderValue>, name: string): string | undefined {
  return fieldLines(headers, name)?.join(', ');
}

/** The field lines of a header; tolerant of the shapes that reach us from JavaScript callers. */
function fieldLines(headers: Record<string, HeaderValue>, name: string): string[] | undefined {
  const raw: unknown = Object.hasOwn(headers, name) ? headers[name] : undefined;
  if (raw === undefined || raw === null) return undefined;
  const lines = Array.isArray(raw) ? raw.map(String) : [String(raw)];
  return lines.length === 0 ? undefined : lines;
}

function lowerCaseHeaders(headers: Record<string, string>): Record<string, HeaderValue> {
  const out: Record<string, HeaderValue> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (Object.hasOwn(out, lower)) throw new TypeError(`the header "${lower}" is given twice, in different cases`);
    out[lower] = value;
  }
  return out;
}

function toBytes(body: string | Uint8Array): Buffer {
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

function stringItem(value: string): Item {
  return { kind: 'item', value: { type: 'string', value }, params: new Map() };
}

// ---------------------------------------------------------------------------------------------
// Structured field values (RFC 8941): the dictionary parser and the serializer the base needs.
// Stricter than the RFC in one way: a repeated dictionary key or parameter is an error rather than
// "last one wins", because two members under one label are a sign of tampering, not of a typo.

type BareItem =
  | { type: 'integer'; value: number }
  | { type: 'decimal'; value: number }
  | { type: 'string'; value: string }
  | { type: 'token'; value: string }
  | { type: 'bytes'; value: Buffer }
  | { type: 'boolean'; value: boolean };
type Params = Map<string, BareItem>;
interface Item {
  kind: 'item';
  value: BareItem;
  params: Params;
}
interface InnerList {
  kind: 'list';
  items: Item[];
  params: Params;
}
type Member = Item | InnerList;

/** Malformed structured field: a kind of rejection, so that no parse error can escape verifyRequest. */
class SfError extends Rejection {}

function parseField(fieldName: string, text: string): Map<string, Member> {
  try {
    return new SfParser(text).dictionary();
  } catch (error) {
    if (error instanceof SfError) throw new Rejection(`the ${fieldName} header is malformed: ${error.message}`);
    throw error;
  }
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isLcAlpha = (c: string | undefined): boolean => c !== undefined && c >= 'a' && c <= 'z';
const isAlpha = (c: string | undefined): boolean => c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
const KEY_CHAR = /[a-z0-9_\-.*]/;
const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z:/]/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

class SfParser {
  private i = 0;

  constructor(private readonly s: string) {
    if (/[^\x00-\x7f]/.test(s)) throw new SfError('it contains non-ASCII characters');
  }

  dictionary(): Map<string, Member> {
    const dict = new Map<string, Member>();
    this.skip(' ');
    while (!this.eof()) {
      const key = this.key();
      let member: Member;
      if (this.peek() === '=') {
        this.i++;
        member = this.peek() === '(' ? this.innerList() : this.item();
      } else {
        member = { kind: 'item', value: { type: 'boolean', value: true }, params: this.params() };
      }
      if (dict.has(key)) throw new SfError(`the label "${key}" appears more than once`);
      dict.set(key, member);
      this.skip(' \t');
      if (this.eof()) break;
      if (this.peek() !== ',') throw new SfError(`expected "," after "${key}" at position ${this.i}`);
      this.i++;
      this.skip(' \t');
      if (this.eof()) throw new SfError('it ends with a trailing comma');
    }
    return dict;
  }

  private innerList(): InnerList {
    this.i++;
    const items: Item[] = [];
    while (!this.eof()) {
      this.skip(' ');
      if (this.peek() === ')') {
        this.i++;
        return { kind: 'list', items, params: this.params() };
      }
      items.push(this.item());
      const next = this.peek();
      if (next === undefined) break;
      if (next !== ' ' && next !== ')') throw new SfError(`expected a space or ")" in an inner list at position ${this.i}`);
    }
    throw new SfError('an inner list is not closed');
  }

  private item(): Item {
    return { kind: 'item', value: this.bareItem(), params: this.params() };
  }

  private params(): Params {
    const params: Params = new Map();
    while (this.peek() === ';') {
      this.i++;
      this.skip(' ');
      const key = this.key();
      let value: BareItem = { type: 'boolean', value: true };
      if (this.peek() === '=') {
        this.i++;
        value = this.bareItem();
      }
      if (params.has(key)) throw new SfError(`the parameter "${key}" appears more than once`);
      params.set(key, value);
    }
    return params;
  }

  private key(): string {
    const first = this.peek();
    if (!isLcAlpha(first) && first !== '*') throw new SfError(`expected a lower-case key at position ${this.i}`);
    const start = this.i;
    while (!this.eof() && KEY_CHAR.test(this.s[this.i]!)) this.i++;
    return this.s.slice(start, this.i);
  }

  private bareItem(): BareItem {
    const c = this.peek();
    if (c === '-' || isDigit(c)) return this.number();
    if (c === '"') return this.string();
    if (c === ':') return this.bytes();
    if (c === '?') return this.boolean();
    if (isAlpha(c) || c === '*') return this.token();
    throw new SfError(c === undefined ? 'a value is missing at the end' : `unexpected "${c}" at position ${this.i}`);
  }

  private number(): BareItem {
    const negative = this.peek() === '-';
    if (negative) this.i++;
    if (!isDigit(this.peek())) throw new SfError(`expected a digit at position ${this.i}`);
    let text = '';
    let decimal = false;
    while (!this.eof()) {
      const c = this.s[this.i]!;
      if (isDigit(c)) text += c;
      else if (c === '.' && !decimal) {
        if (text.length > 12) throw new SfError('a decimal has more than 12 integer digits');
        text += c;
        decimal = true;
      } else break;
      this.i++;
      if (text.length > (decimal ? 16 : 15)) throw new SfError('a number has too many digits');
    }
    const magnitude = Number(text);
    if (!decimal) return { type: 'integer', value: negative ? -magnitude : magnitude };
    const fraction = text.length - text.indexOf('.') - 1;
    if (fraction === 0 || fraction > 3) throw new SfError('a decimal must have one to three fraction digits');
    return { type: 'decimal', value: negative ? -magnitude : magnitude };
  }

  private string(): BareItem {
    this.i++;
    let out = '';
    while (!this.eof()) {
      const c = this.s[this.i++]!;
      if (c === '\\') {
        const escaped = this.s[this.i++];
        if (escaped !== '"' && escaped !== '\\') throw new SfError('a string has an invalid escape');
        out += escaped;
      } else if (c === '"') {
        return { type: 'string', value: out };
      } else {
        const code = c.charCodeAt(0);
        if (code < 0x20 || code > 0x7e) throw new SfError('a string contains a control character');
        out += c;
      }
    }
    throw new SfError('a string is not closed');
  }

  private token(): BareItem {
    const start = this.i;
    this.i++;
    while (!this.eof() && TOKEN_CHAR.test(this.s[this.i]!)) this.i++;
    return { type: 'token', value: this.s.slice(start, this.i) };
  }

  private bytes(): BareItem {
    const end = this.s.indexOf(':', this.i + 1);
    if (end < 0) throw new SfError('a byte sequence is not closed');
    const text = this.s.slice(this.i + 1, end);
    // RFC 8941 §4.2.7 asks parsers to tolerate missing padding; a lone trailing sextet is never valid.
    if (!BASE64.test(text) || text.replace(/=+$/, '').length % 4 === 1) throw new SfError('a byte sequence is not valid base64');
    this.i = end + 1;
    return { type: 'bytes', value: Buffer.from(text, 'base64') };
  }

  private boolean(): BareItem {
    const c = this.s[this.i + 1];
    if (c !== '0' && c !== '1') throw new SfError(`a boolean must be ?0 or ?1 at position ${this.i}`);
    this.i += 2;
    return { type: 'boolean', value: c === '1' };
  }

  private peek(): string | undefined {
    return this.s[this.i];
  }

  private eof(): boolean {
    return this.i >= this.s.length;
  }

  private skip(chars: string): void {
    while (!this.eof() && chars.includes(this.s[this.i]!)) this.i++;
  }
}

function serializeBareItem(item: BareItem): string {
  switch (item.type) {
    case 'integer':
      if (!Number.isSafeInteger(item.value) || Math.abs(item.value) > 999_999_999_999_999) throw new SfError(`${item.value} is not a valid integer`);
      return String(item.value);
    case 'decimal': {
      const fixed = Math.abs(item.value).toFixed(3).replace(/0{1,2}$/, '');
      if (!Number.isFinite(item.value) || fixed.indexOf('.') > 12) throw new SfError(`${item.value} is not a valid decimal`);
      return (item.value < 0 ? '-' : '') + fixed;
    }
    case 'string':
      if (/[^\x20-\x7e]/.test(item.value)) throw new SfError(`"${item.value}" holds characters a header string cannot carry`);
      return `"${item.value.replace(/[\\"]/g, '\\$&')}"`;
    case 'token':
      if (!/^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$/.test(item.value)) throw new SfError(`${item.value} is not a valid token`);
      return item.value;
    case 'bytes':
      return `:${item.value.toString('base64')}:`;
    case 'boolean':
      return item.value ? '?1' : '?0';
  }
}

function serializeParams(params: Params): string {
  let out = '';
  for (const [key, value] of params) out += value.type === 'boolean' && value.value ? `;${key}` : `;${key}=${serializeBareItem(value)}`;
  return out;
}

function serializeItem(item: Item): string {
  return serializeBareItem(item.value) + serializeParams(item.params);
}

function serializeInnerList(list: InnerList): string {
  return `(${list.items.map(serializeItem).join(' ')})${serializeParams(list.params)}`;
}

// ---------------------------------------------------------------------------------------------
// Key files for the two signing parties: <dir>/<name>.sign.key (PKCS#8) and <name>.sign.pub (SPKI)

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function keyPaths(dir: string, name: string): { key: string; pub: string } {
  if (!NAME.test(name)) throw new TypeError(`"${name}" is not a valid key name (letters, digits, ".", "_", "-")`);
  return { key: join(dir, `${name}.sign.key`), pub: join(dir, `${name}.sign.pub`) };
}

/**
 * Creates the Ed25519 key pair `name` in `dir` when absent. The private key is the source of truth:
 * a missing or mismatching public key file is re-derived from it; an unreadable private key is an
 * error rather than something to overwrite.
 */
export async function ensureSigningKey(dir: string, name: string): Promise<void> {
  const paths = keyPaths(dir, name);
  const createdDir = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (createdDir !== undefined) await chmod(dir, 0o700);

  let privatePem = await readIfPresent(paths.key);
  if (privatePem === undefined) {
    const { privateKey } = generateKeyPairSync('ed25519');
    await publishExclusive(paths.key, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
    // Read back: when another process published first, its key is the one that counts.
    privatePem = await readFile(paths.key, 'utf8');
  }
  const publicPem = createPublicKey(parsePrivateKey(privatePem, paths.key)).export({ type: 'spki', format: 'pem' }) as string;
  const existingPublic = await readIfPresent(paths.pub);
  if (existingPublic === undefined || !samePublicKey(existingPublic, publicPem)) await publishReplacing(paths.pub, publicPem, 0o644);
}

/** The private key that signs, from `dir/<name>.sign.key`. */
export function loadSigningKey(dir: string, name: string): KeyObject {
  const path = keyPaths(dir, name).key;
  return parsePrivateKey(readKeyFile(path, 'signing key'), path);
}

/** The public key that verifies, from `dir/<name>.sign.pub`. */
export function loadVerifyKey(dir: string, name: string): KeyObject {
  const path = keyPaths(dir, name).pub;
  const pem = readKeyFile(path, 'verify key');
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (error) {
    throw new Error(`${path} is not a PEM public key: ${(error as Error).message}`, { cause: error });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${path} holds a ${key.asymmetricKeyType ?? 'non-asymmetric'} key, not an Ed25519 key`);
  return key;
}

function readKeyFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${what} ${path} does not exist; run \`npx poc up\` to create the signing keys`, { cause: error });
    throw new Error(`cannot read ${what} ${path}: ${(error as Error).message}`, { cause: error });
  }
}

function parsePrivateKey(pem: string, path: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    throw new Error(`${path} is not a PEM private key: ${(error as Error).message}`, { cause: error });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${path} holds a ${key.asymmetricKeyType ?? 'non-asymmetric'} key, not an Ed25519 key`);
  return key;
}

function samePublicKey(pem: string, expectedPem: string): boolean {
  try {
    const der = (text: string) => createPublicKey(text).export({ type: 'spki', format: 'der' });
    return der(pem).equals(der(expectedPem));
  } catch {
    return false;
  }
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Writes a complete file beside `target`, so that readers never see a partial key. */
async function writeTemp(target: string, content: string, mode: number): Promise<string> {
  const temp = `${target}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(content);
    await handle.chmod(mode);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  return temp;
}

/** Publishes with link, not rename: link never replaces a key that another process has just published. */
async function publishExclusive(target: string, content: string, mode: number): Promise<void> {
  const temp = await writeTemp(target, content, mode);
  try {
    await link(temp, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await rm(temp, { force: true });
  }
}

async function publishReplacing(target: string, content: string, mode: number): Promise<void> {
  const temp = await writeTemp(target, content, mode);
  try {
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/**
 * A signer for the typed client: signs each outgoing request with the named party's private key,
 * its key id being the party's name. The client calls it once per attempt (a nonce is single-use).
 */
export function requestSigner(dir: string, name: string): (request: { method: string; url: string; headers: Record<string, string>; body: string | undefined }) => Record<string, string> {
  const privateKey = loadSigningKey(dir, name);
  return ({ method, url, headers, body }) => signRequest({ method, url, headers, ...(body === undefined ? {} : { body }), keyId: name, privateKey });
}
