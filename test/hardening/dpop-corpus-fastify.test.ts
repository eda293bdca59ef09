import t from 'tap'
import { runDpopCorpus } from './dpop-corpus.js'

// The DPoP proof corpus (dpop-corpus.ts) against @portcullis/fastify on a real socket.

await runDpopCorpus(t, 'fastify')
