// Doc blocks are often fragments of a larger program: `app.get(...)` without the line that made
// `app`. These are the names a fragment may use without defining them, each declared with the type
// the surrounding program would give it, so the rest of the block is checked for real. A name is
// declared only when the block uses it and does not bind it itself (an import, a const, a
// function). Everything else a block uses must be imported or defined in it: an import missing
// from a doc fails the docs test.
import ts from 'typescript'

const fastify = {
  app: "import('fastify').FastifyInstance",
  handler: "import('fastify').RouteHandlerMethod",
  options: "import('@portcullis/core').GateOptions",
}
const express = {
  app: "import('express').Express",
  handler: "import('express').RequestHandler",
  options: "import('@portcullis/core').GateOptions",
}

/** The declared names, by the framework of the document (`<!-- docs-test app=express -->`, default Fastify). */
export function fragmentNames(framework = 'fastify') {
  const f = framework === 'express' ? express : fastify
  const handler = f.handler
  return {
    // The application and its route handlers.
    app: f.app,
    h: handler,
    handler,
    handlerA: handler,
    handlerB: handler,
    mcpHandler: handler,
    options: f.options,
    // Configuration values of the application.
    resource: 'string',
    issuer: 'string',
    url: 'string',
    realm: 'string',
    authorizationServers: 'string[]',
    roles: 'Record<string, string[]>',
    sampleToken: 'string',
    token: 'string',
    claims: '{ jti: string; iss: string; exp: number }',
    // Verifiers and presets made elsewhere in the program.
    verifier: "import('@portcullis/core').TokenVerifier",
    verifierA: "import('@portcullis/core').TokenVerifier",
    verifierB: "import('@portcullis/core').TokenVerifier",
    tokenVerifier: "import('@portcullis/core').TokenVerifier",
    preset: "import('@portcullis/idp').IdpPreset",
    broker: "import('@portcullis/authorization-server').AuthorizationServer",
    authInfo: "import('@portcullis/core').AuthInfo",
    redis: "import('@portcullis/redis').RedisConnection",
    // An MCP server factory of the 1.x SDK, and the application's own tool, prompt and callback code.
    buildServer: "() => import('@modelcontextprotocol/sdk/server/mcp.js').McpServer",
    info: '{ name: string; version: string }',
    whoami: 'any',
    listNotes: 'any',
    addNote: 'any',
    clearNotes: 'any',
    summary: 'any',
    text: '(value: string) => any',
    // The authorization server's metadata, an SDK client's OAuth provider and its URLs (client-side fragments).
    oauthMetadata: "import('@modelcontextprotocol/sdk/shared/auth.js').OAuthMetadata",
    provider: "import('@modelcontextprotocol/client').OAuthClientProvider",
    serverUrl: 'URL',
    authorizationUrl: 'URL',
    metrics: '{ increment(name: string): void }',
  }
}

/** Names a block binds at its top level: imports, variables (destructuring included), functions, classes, types. */
export function topLevelNames(code) {
  const file = ts.createSourceFile('block.ts', code, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS)
  const names = new Set()
  const bind = (name) => {
    if (ts.isIdentifier(name)) names.add(name.text)
    else if (ts.isObjectBindingPattern(name) || ts.isArrayBindingPattern(name))
      for (const element of name.elements) if (!ts.isOmittedExpression(element)) bind(element.name)
  }
  for (const statement of file.statements) {
    if (ts.isImportDeclaration(statement) && statement.importClause) {
      const clause = statement.importClause
      if (clause.name) names.add(clause.name.text)
      const bindings = clause.namedBindings
      if (bindings && ts.isNamespaceImport(bindings)) names.add(bindings.name.text)
      if (bindings && ts.isNamedImports(bindings)) for (const el of bindings.elements) names.add(el.name.text)
    } else if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) bind(declaration.name)
    } else if (
      (ts.isFunctionDeclaration(statement) ||
        ts.isClassDeclaration(statement) ||
        ts.isInterfaceDeclaration(statement) ||
        ts.isTypeAliasDeclaration(statement) ||
        ts.isEnumDeclaration(statement)) &&
      statement.name
    ) {
      names.add(statement.name.text)
    }
  }
  return names
}

/**
 * The block as a module to type-check: declarations for the fragment names it uses without
 * binding, its code unchanged below them (so line numbers shift by `offset`), `export {}` last.
 */
export function prepareBlock(code, framework) {
  const bound = topLevelNames(code)
  const declarations = []
  for (const [name, type] of Object.entries(fragmentNames(framework))) {
    // A name inside a module specifier or a hyphenated word ('@portcullis/provider-support') is not one.
    if (!bound.has(name) && new RegExp(`(?:^|[^\\w$.'"/-]|\\.\\.\\.)${name}(?![\\w$'"-])`, 'm').test(code))
      declarations.push(`declare const ${name}: ${type}`)
  }
  const head = declarations.length > 0 ? `${declarations.join('\n')}\n` : ''
  return {
    source: `${head}${code}\nexport {}\n`,
    offset: declarations.length,
    declared: declarations.map((d) => d.split(/[ :]/)[2]),
  }
}
