/**
 * Token endpoint errors in the shape of RFC 6749 §5.2, with the DPoP codes of RFC 9449 §5 and §8.
 */

export type OAuthErrorCode =
  | 'invalid_client'
  | 'invalid_grant'
  | 'invalid_request'
  | 'invalid_scope'
  | 'unsupported_grant_type'
  | 'invalid_authorization_details'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce';

export interface OAuthErrorBody {
  error: OAuthErrorCode;
  error_description: string;
}

/** error_description may only hold %x20-21 / %x23-5B / %x5D-7E (RFC 6749 §5.2). */
export function safeDescription(text: string): string {
  return text.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '?');
}

export class OAuthError extends Error {
  override name = 'OAuthError';
  readonly description: string;
  /** 401 for a failed client authentication, 400 for everything else (RFC 6749 §5.2). */
  readonly status: 400 | 401;
  /** With `use_dpop_nonce`: the nonce the client must put in its next proof. */
  readonly dpopNonce: string | undefined;

  constructor(readonly error: OAuthErrorCode, description: string, dpopNonce?: string) {
    super(`${error}: ${description}`);
    this.description = safeDescription(description);
    this.status = error === 'invalid_client' ? 401 : 400;
    this.dpopNonce = dpopNonce;
  }

  body(): OAuthErrorBody {
    return { error: this.error, error_description: this.description };
  }

  /** Response headers: errors must not be cached, and a nonce travels in `DPoP-Nonce`. */
  headers(): Record<string, string> {
    const headers: Record<string, string> = { 'cache-control': 'no-store' };
    if (this.dpopNonce !== undefined) headers['dpop-nonce'] = this.dpopNonce;
    return headers;
  }
}
