import { createHmac, createPrivateKey, sign as cryptoSign, type KeyObject, randomUUID } from 'node:crypto'
import type { DevIdp } from '@portcullis/dev-idp'
import { CompactEncrypt, CompactSign, exportJWK, generateKeyPair, type JWK } from 'jose'

// Turns the token recipes of the corpus (plain data) into token text. Well-formed tokens are signed
// with jose; shapes jose refuses to make (duplicate members, unknown `crit`, `alg: none`, HMAC keyed
// with a public key) are assembled byte by byte and signed with node:crypto. Real tokens of the
// shapes an authorization server issues (refresh, ID, another resource's) come from the dev IdP.

/** Keys of the test's own authorization server ("acme", "partner") and of an attacker. */
export type KeyName = 'es256' | 'rs256' | 'attacker-es256' | 'attacker-rs256'

/** A time relative to the moment the token is made: `{ $now: -120 }` is two minutes ago. */
export interface RelativeTime {
  $now: number
}

type ClaimValue = unknown

/**
 * A token to make. Strings in claims and header values may hold `$ACME`, `$PARTNER`, `$ATTACKER`
 * (issuer and server URLs known only at run time) and `$RESOURCE`; `{ $now: n }` is a NumericDate.
 */
export type TokenRecipe =
  /** A JWS signed with jose: defaults are a valid access token of the acme issuer for the resource. */
  | {
      jwt: {
        key?: KeyName
        header?: Record<string, unknown>
        claims?: Record<string, ClaimValue>
        /** Default claims to leave out. */
        drop?: string[]
      }
    }
  /** Header and payload JSON exactly as written (duplicate members allowed), then signed. */
  | {
      raw: {
        header: string
        payload: string
        sign: KeyName | 'empty' | 'garbage'
        /** Bytes of the payload text: UTF-8 (default), or Latin-1 to make invalid UTF-8. */
        encoding?: 'utf8' | 'latin1'
      }
    }
  /** A valid token, then reshaped. */
  | { reshape: Reshape; of?: TokenRecipe }
  /** Token text as is (`$VALID` is replaced by a valid token). */
  | { text: string }
  | { special: Special }
  /** A real token from the dev IdP. */
  | { idp: 'access' | 'refresh' | 'id' | 'other-resource' | 'machine-no-resource'; scope?: string }

export type Reshape =
  | 'two-parts'
  | 'four-parts'
  | 'empty-signature'
  | 'padded-header'
  | 'padded-signature'
  | 'standard-base64-header'
  | 'non-canonical-header'
  | 'swap-header-payload'
  | 'signature-of-another-token'

export type Special =
  /** HS256 keyed with the PEM text of the issuer's RSA public key (RFC 8725 §2.1 key confusion). */
  | 'hs256-with-rsa-pem'
  /** HS256 keyed with the JSON text of the issuer's public RSA JWK. */
  | 'hs256-with-rsa-jwk'
  /** HS256 keyed with the raw `x` coordinate of the issuer's EC key. */
  | 'hs256-with-ec-x'
  /** A compact JWE (RSA-OAEP-256, A256GCM) encrypted to the issuer's RSA key, holding valid claims. */
  | 'jwe'
  /** A JWS with `cty: JWT` whose payload is a valid access token (RFC 7519 §5.2). */
  | 'nested-cty'
  /** A JWS whose payload is a valid access token's text, without `cty`. */
  | 'nested-no-cty'
  /** Signed by the attacker, the attacker's public key embedded as a `jwk` header (RFC 8725 §3.10). */
  | 'embedded-jwk'
  /** The same, with the kid of the trusted key. */
  | 'embedded-jwk-trusted-kid'

export interface SigningKey {
  kid: string
  alg: 'ES256' | 'RS256'
  privateKey: KeyObject
  publicJwk: JWK & { kid: string; alg: string; use: string }
}

export interface ForgeContext {
  resource: string
  otherResource: string
  issuers: { acme: string; partner: string }
  attackerUrl: string
  keys: Record<KeyName, SigningKey>
  idp: DevIdp
}

/** Makes the four signing keys: the trusted issuer's ES256 and RS256 keys and an attacker's pair. */
export async function makeSigningKeys(): Promise<Record<KeyName, SigningKey>> {
  const make = async (alg: 'ES256' | 'RS256', kid: string): Promise<SigningKey> => {
    const pair = await generateKeyPair(alg, { extractable: true })
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' }
    const privateJwk = await exportJWK(pair.privateKey)
    return { kid, alg, privateKey: createPrivateKey({ key: privateJwk as never, format: 'jwk' }), publicJwk }
  }
  return {
    es256: await make('ES256', 'es-1'),
    rs256: await make('RS256', 'rs-1'),
    // The attacker's keys carry kids of their own; recipes may give them the trusted kids.
    'attacker-es256': await make('ES256', 'attacker-es'),
    'attacker-rs256': await make('RS256', 'attacker-rs'),
  }
}

const b64 = (data: string | Buffer) => Buffer.from(data).toString('base64url')

/** Makes the token a recipe describes. */
export async function forgeToken(recipe: TokenRecipe, ctx: ForgeContext): Promise<string> {
  if ('jwt' in recipe) return signJwt(ctx, recipe.jwt)
  if ('raw' in recipe) {
    const { header, payload, sign, encoding } = recipe.raw
    return rawJwt(ctx, header, payload, sign, encoding ?? 'utf8')
  }
  if ('reshape' in recipe)
    return reshape(await forgeToken(recipe.of ?? { jwt: {} }, ctx), recipe.reshape, ctx)
  if ('text' in recipe) {
    return recipe.text.includes('$VALID')
      ? recipe.text.replaceAll('$VALID', await signJwt(ctx, {}))
      : recipe.text
  }
  if ('special' in recipe) return special(ctx, recipe.special)
  return idpToken(ctx, recipe.idp, recipe.scope)
}

function substitute(ctx: ForgeContext, value: unknown, now: number): unknown {
  if (typeof value === 'string') {
    return value
      .replaceAll('$ACME_UPPER_SCHEME', ctx.issuers.acme.replace(/^http/, 'HTTP'))
      .replaceAll('$ACME', ctx.issuers.acme)
      .replaceAll('$PARTNER_WITHOUT_SLASH', ctx.issuers.partner.replace(/\/$/, ''))
      .replaceAll('$PARTNER', ctx.issuers.partner)
      .replaceAll('$ATTACKER', ctx.attackerUrl)
      .replaceAll('$RESOURCE', ctx.resource)
  }
  if (Array.isArray(value)) return value.map((item) => substitute(ctx, item, now))
  if (typeof value === 'object' && value !== null) {
    if (Object.keys(value).length === 1 && typeof (value as RelativeTime).$now === 'number') {
      return now + (value as RelativeTime).$now
    }
    // Own-property copy that keeps a "__proto__" member as data.
    const out: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) {
      Object.defineProperty(out, key, {
        value: substitute(ctx, item, now),
        enumerable: true,
        writable: true,
        configurable: true,
      })
    }
    return out
  }
  return value
}

function defaultClaims(ctx: ForgeContext, now: number): Record<string, unknown> {
  return {
    iss: ctx.issuers.acme,
    aud: ctx.resource,
    sub: 'alice',
    client_id: 'notes-client',
    scope: 'notes:read',
    iat: now,
    exp: now + 300,
    jti: randomUUID(),
  }
}

async function signJwt(
  ctx: ForgeContext,
  spec: {
    key?: KeyName
    header?: Record<string, unknown>
    claims?: Record<string, unknown>
    drop?: string[]
  },
): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const key = ctx.keys[spec.key ?? 'es256']
  const claims = { ...defaultClaims(ctx, now), ...(substitute(ctx, spec.claims ?? {}, now) as object) }
  for (const name of spec.drop ?? []) delete (claims as Record<string, unknown>)[name]
  const header = {
    alg: key.alg,
    kid: key.kid,
    typ: 'at+jwt',
    ...(substitute(ctx, spec.header ?? {}, now) as object),
  }
  return new CompactSign(Buffer.from(JSON.stringify(claims)))
    .setProtectedHeader(header as never)
    .sign(key.privateKey)
}

/** RFC 7515 §5.1 by hand, over the exact header and payload text. */
function rawJwt(
  ctx: ForgeContext,
  header: string,
  payload: string,
  how: KeyName | 'empty' | 'garbage',
  encoding: 'utf8' | 'latin1',
): string {
  const now = Math.floor(Date.now() / 1000)
  const fill = (text: string) =>
    (substitute(ctx, text, now) as string)
      .replaceAll('$EXP', String(now + 300))
      .replaceAll('$IAT', String(now))
  const signingInput = `${b64(fill(header))}.${Buffer.from(fill(payload), encoding).toString('base64url')}`
  if (how === 'empty') return `${signingInput}.`
  if (how === 'garbage') return `${signingInput}.${b64('not a signature at all')}`
  return `${signingInput}.${b64(signWith(ctx.keys[how], signingInput))}`
}

function signWith(key: SigningKey, signingInput: string): Buffer {
  return key.alg === 'ES256'
    ? cryptoSign('sha256', Buffer.from(signingInput), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
    : cryptoSign('sha256', Buffer.from(signingInput), key.privateKey)
}

async function reshape(token: string, how: Reshape, ctx: ForgeContext): Promise<string> {
  const [header, payload, signature] = token.split('.') as [string, string, string]
  switch (how) {
    case 'two-parts':
      return `${header}.${payload}`
    case 'four-parts':
      return `${token}.${signature}`
    case 'empty-signature':
      return `${header}.${payload}.`
    case 'padded-header':
      return `${header}==.${payload}.${signature}`
    case 'padded-signature':
      return `${header}.${payload}.${signature}==`
    case 'standard-base64-header': {
      // The same header bytes in standard base64 (RFC 4648 §4): "+" and "/" instead of "-" and "_".
      const text = JSON.stringify({ alg: 'ES256', kid: 'es-1', typ: 'at+jwt', x: '>>>???' })
      return `${Buffer.from(text).toString('base64').replace(/=+$/, '')}.${payload}.${signature}`
    }
    case 'non-canonical-header': {
      // Same bytes once decoded, but the last character carries set spare bits (RFC 4648 §3.5).
      const last = header.at(-1)!
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
      const spare = header.length % 4 === 2 ? 15 : header.length % 4 === 3 ? 3 : 0
      if (spare === 0) throw new Error('header length has no spare bits; change the test header')
      const index = alphabet.indexOf(last)
      return `${header.slice(0, -1)}${alphabet[(index & ~spare) | 1]}.${payload}.${signature}`
    }
    case 'swap-header-payload':
      return `${payload}.${header}.${signature}`
    case 'signature-of-another-token': {
      const other = await signJwt(ctx, { claims: { sub: 'mallory' } })
      return `${header}.${payload}.${other.split('.')[2]}`
    }
  }
}

async function special(ctx: ForgeContext, what: Special): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const payloadText = JSON.stringify(defaultClaims(ctx, now))
  const payload = b64(payloadText)
  const rsa = ctx.keys.rs256
  const hmac = (secret: Buffer | string, kid: string) => {
    const signingInput = `${b64(JSON.stringify({ alg: 'HS256', kid, typ: 'at+jwt' }))}.${payload}`
    return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`
  }
  switch (what) {
    case 'hs256-with-rsa-pem': {
      const { createPublicKey } = await import('node:crypto')
      const pem = createPublicKey({ key: rsa.publicJwk as never, format: 'jwk' }).export({
        type: 'spki',
        format: 'pem',
      })
      return hmac(pem, rsa.kid)
    }
    case 'hs256-with-rsa-jwk':
      return hmac(JSON.stringify(rsa.publicJwk), rsa.kid)
    case 'hs256-with-ec-x':
      return hmac(Buffer.from(ctx.keys.es256.publicJwk.x!, 'base64url'), ctx.keys.es256.kid)
    case 'jwe': {
      const { createPublicKey } = await import('node:crypto')
      return new CompactEncrypt(Buffer.from(JSON.stringify(defaultClaims(ctx, now))))
        .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: rsa.kid, typ: 'at+jwt' })
        .encrypt(createPublicKey({ key: rsa.publicJwk as never, format: 'jwk' }))
    }
    case 'nested-cty':
    case 'nested-no-cty': {
      const inner = await signJwt(ctx, {})
      const header = { alg: 'ES256', kid: 'es-1', ...(what === 'nested-cty' ? { cty: 'JWT' } : {}) }
      return new CompactSign(Buffer.from(inner)).setProtectedHeader(header).sign(ctx.keys.es256.privateKey)
    }
    case 'embedded-jwk':
    case 'embedded-jwk-trusted-kid': {
      const attacker = ctx.keys['attacker-es256']
      const { kid: _kid, use: _use, ...jwk } = attacker.publicJwk
      const header = {
        alg: 'ES256',
        typ: 'at+jwt',
        jwk,
        ...(what === 'embedded-jwk-trusted-kid' ? { kid: 'es-1' } : {}),
      }
      return new CompactSign(Buffer.from(payloadText)).setProtectedHeader(header).sign(attacker.privateKey)
    }
  }
}

async function idpToken(ctx: ForgeContext, what: string, scope = 'notes:read'): Promise<string> {
  const { idp } = ctx
  switch (what) {
    case 'access':
      return (await idp.userToken({ user: 'bob', resource: ctx.resource, scope })).access_token
    case 'refresh': {
      const answer = await idp.userToken({
        user: 'bob',
        resource: ctx.resource,
        scope: `offline_access ${scope}`,
      })
      if (answer.refresh_token === undefined) throw new Error('the dev IdP issued no refresh token')
      return answer.refresh_token
    }
    case 'id': {
      const answer = await idp.userToken({ user: 'bob', resource: ctx.resource, scope: `openid ${scope}` })
      if (answer.id_token === undefined) throw new Error('the dev IdP issued no ID token')
      return answer.id_token
    }
    case 'other-resource':
      return (await idp.userToken({ user: 'bob', resource: ctx.otherResource, scope })).access_token
    case 'machine-no-resource':
      return (await idp.machineToken({ resource: null, scope })).access_token
    default:
      throw new Error(`unknown dev IdP token ${what}`)
  }
}
