import t from 'tap'
import { startFastifyCorpusApp } from './corpus-apps.js'
import { startHardeningStack } from './hardening-stack.js'
import { runCorpus } from './run-corpus.js'

// The bad-input corpus (corpus.ts) against @portcullis/fastify on a real socket.

const stack = await startHardeningStack()
t.teardown(() => stack.close())
const app = await startFastifyCorpusApp(stack)
t.teardown(() => app.close())

await runCorpus(t, stack, app)
