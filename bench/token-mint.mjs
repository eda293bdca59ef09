// Mints ES256 access tokens for the HTTP benchmarks: one signing key, many distinct tokens.
// Signing goes straight through node:crypto (one sign call per token) and is spread over worker
// threads, so a pool of 100k+ tokens is ready in seconds, before any scenario runs.
import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'

const KID = 'bench-es256'

/** A fresh ES256 key pair: the private JWK for minting and the public JWKS the servers verify with. */
export function benchKeyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const publicJwk = { ...publicKey.export({ format: 'jwk' }), kid: KID, alg: 'ES256', use: 'sig' }
  return { privateJwk: privateKey.export({ format: 'jwk' }), jwks: { keys: [publicJwk] } }
}

const base64url = (value) => Buffer.from(JSON.stringify(value)).toString('base64url')

/**
 * Signs `count` tokens numbered from `start`. Each carries its own `sub` and `jti`, so no two are
 * equal; every other claim is what an RFC 9068 access token of the issuer looks like.
 */
function mintRange({ privateJwk, claims, start, count }) {
  const key = createPrivateKey({ key: privateJwk, format: 'jwk' })
  const header = base64url({ alg: 'ES256', typ: 'at+jwt', kid: KID })
  const tokens = new Array(count)
  for (let i = 0; i < count; i++) {
    const n = start + i
    const payload = base64url({ ...claims, sub: `user-${n}`, jti: `bench-${n}` })
    const signingInput = `${header}.${payload}`
    // RFC 7518 §3.4: an ES256 signature is R || S, 64 bytes (not DER).
    const signature = sign('sha256', Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' })
    tokens[i] = `${signingInput}.${signature.toString('base64url')}`
  }
  return tokens
}

/**
 * Signs `count` DPoP proofs (RFC 9449 §4.2) numbered from `start`, each with its own `jti`, for
 * `claims` (htm, htu, iat, ath) and the key of `privateJwk`, whose public half rides in the header.
 */
function mintProofRange({ privateJwk, claims, start, count }) {
  const key = createPrivateKey({ key: privateJwk, format: 'jwk' })
  const { d: _private, ...publicJwk } = privateJwk
  const header = base64url({ typ: 'dpop+jwt', alg: 'ES256', jwk: publicJwk })
  const proofs = new Array(count)
  for (let i = 0; i < count; i++) {
    const signingInput = `${header}.${base64url({ ...claims, jti: `bench-proof-${start + i}` })}`
    const signature = sign('sha256', Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' })
    proofs[i] = `${signingInput}.${signature.toString('base64url')}`
  }
  return proofs
}

/**
 * Mints `count` distinct tokens on all cores. `claims` holds iss, aud, client_id, scope, iat, exp.
 * Resolves to an array of compact JWTs.
 */
export async function mintTokens({ privateJwk, claims, count, kind = 'token' }) {
  const workers = Math.max(1, Math.min(availableParallelism(), Math.ceil(count / 5000)))
  const share = Math.ceil(count / workers)
  const parts = []
  for (let w = 0; w < workers; w++) {
    const start = w * share
    const size = Math.min(share, count - start)
    if (size <= 0) break
    parts.push(
      new Promise((resolve, reject) => {
        const worker = new Worker(new URL(import.meta.url), {
          workerData: { privateJwk, claims, start, count: size, kind },
        })
        // One newline-joined string crosses the thread boundary faster than an array of strings.
        worker.once('message', (text) => resolve(text.split('\n')))
        worker.once('error', reject)
        worker.once('exit', (code) => {
          if (code !== 0) reject(new Error(`token worker exited with code ${code}`))
        })
      }),
    )
  }
  return (await Promise.all(parts)).flat()
}

/** One token, minted in this thread (the "warm" token, sanity checks). */
export function mintToken({ privateJwk, claims, index }) {
  return mintRange({ privateJwk, claims, start: index, count: 1 })[0]
}

/** DPoP proofs, `mintTokens` style: `count` distinct ones on all cores. */
export function mintProofs({ privateJwk, claims, count }) {
  return mintTokens({ privateJwk, claims, count, kind: 'proof' })
}

/** One DPoP proof, minted in this thread (sanity checks). */
export function mintProof({ privateJwk, claims, index }) {
  return mintProofRange({ privateJwk, claims, start: index, count: 1 })[0]
}

if (!isMainThread && workerData?.claims !== undefined) {
  const mint = workerData.kind === 'proof' ? mintProofRange : mintRange
  parentPort.postMessage(mint(workerData).join('\n'))
}
