import { fileURLToPath } from 'node:url'
import t from 'tap'
import ts from 'typescript'

// `req.auth` is typed on every Express request: an app reads `req.auth.extra.sub` behind the gate
// without `!`, and misuse is a compile error (checked with @ts-expect-error in the fixture).

t.test('the typed app compiles with no error, and every @ts-expect-error is needed', async (t) => {
  const fixture = fileURLToPath(new URL('./fixtures/typed-app.ts', import.meta.url))
  const program = ts.createProgram([fixture], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    customConditions: ['portcullis-source'],
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: false,
    verbatimModuleSyntax: true,
    skipLibCheck: true,
    noEmit: true,
    types: ['node'],
  })
  const diagnostics = ts
    .getPreEmitDiagnostics(program)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
  t.same(diagnostics, [])
})
