import t from 'tap'
import { startExpressCorpusApp } from './corpus-apps.js'
import { startHardeningStack } from './hardening-stack.js'
import { runCorpus } from './run-corpus.js'

// The bad-input corpus (corpus.ts) against @portcullis/express (Express 5) on a real socket.

const stack = await startHardeningStack()
t.teardown(() => stack.close())
const app = await startExpressCorpusApp(stack)
t.teardown(() => app.close())

await runCorpus(t, stack, app)
