// The helpers behind scripts/docs-test.mjs and scripts/pack-check.mjs: what they find in Markdown,
// what they declare for fragments, and what they refuse in a tarball.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { expectedOutput, withPort } from '../../scripts/docs/check-blocks.mjs'
import { prepareBlock, topLevelNames } from '../../scripts/docs/fragments.mjs'
import { docSettings, extractBlocks, isCodeBlock } from '../../scripts/docs/markdown-blocks.mjs'
import { checkTarball, listTarball } from '../../scripts/pack/tarball-rules.mjs'

t.test('fenced blocks: language, meta words, heading, indented fences in list items', async (t) => {
  const markdown = [
    '# Title',
    '<!-- docs-test app=express -->',
    '## Quick start',
    '```ts run',
    'const a = 1',
    '```',
    '- an item:',
    '',
    '  ```',
    '  HTTP/1.1 403',
    '  ```',
    '```sh',
    'npm install x',
    '```',
  ].join('\n')
  const blocks = extractBlocks(markdown)
  t.equal(blocks.length, 3)
  t.match(blocks[0], { lang: 'ts', meta: ['run'], code: 'const a = 1\n', line: 4, heading: 'Quick start' })
  t.equal(blocks[1]!.code, 'HTTP/1.1 403\n', 'indentation of a fence in a list item is removed')
  t.same(
    blocks.filter(isCodeBlock).map((b) => b.line),
    [4],
    'only ts/js blocks are code blocks',
  )
  t.same(docSettings(markdown), { app: 'express' })
})

t.test('fragments: declared only when used and not bound by the block', async (t) => {
  t.same(
    [...topLevelNames("import x, { y as z } from 'm'\nconst { a, b: [c] } = o\nfunction f() {}\n")].sort(),
    ['a', 'c', 'f', 'x', 'z'],
  )
  const used = prepareBlock("app.get('/', h)\n", 'express')
  t.same(used.declared, ['app', 'h'])
  t.match(used.source, /declare const app: import\('express'\)\.Express/)
  t.equal(used.offset, 2)
  t.same(
    prepareBlock("import Fastify from 'fastify'\nconst app = Fastify()\n").declared,
    [],
    'a bound name is not declared',
  )
  t.same(prepareBlock('const x = { ...options }\n').declared, ['options'], 'a spread counts as a use')
  t.same(
    prepareBlock('req.app.listen()\nz.string()\n').declared,
    [],
    'property names and unknown names are not declared',
  )
  t.same(
    prepareBlock("import { htmlPage } from '@portcullis/provider-support'\nconst a = text-b\n").declared,
    [],
    'a name inside a module specifier or a hyphenated word is not a use',
  )
  t.same(prepareBlock('await auth(provider, {})\n').declared, ['provider'], 'a name between punctuation is')
})

t.test('runnable blocks: expected output from comments, port 3000 replaced', async (t) => {
  const code = [
    "console.log(res.status, res.headers.get('www-authenticate'))",
    '// 403 Bearer error="insufficient_scope",',
    '//     scope="a"',
    "await app.listen({ port: 3000, host: '127.0.0.1' })",
    "fetch('http://127.0.0.1:3000/x'); app.listen(3000); const n = 13000",
  ].join('\n')
  t.same(expectedOutput(code), ['403 Bearer error="insufficient_scope", scope="a"'])
  const moved = withPort(code, 4567)
  t.match(moved, /port: 4567/)
  t.match(moved, /127\.0\.0\.1:4567\/x/)
  t.match(moved, /listen\(4567\)/)
  t.match(moved, /const n = 13000/, 'other numbers stay')
})

t.test('tarball rules: workspace ranges, missing files, maps without sources', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-tarball-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const pkg = join(dir, 'package')
  mkdirSync(join(pkg, 'dist'), { recursive: true })
  writeFileSync(
    join(pkg, 'package.json'),
    JSON.stringify({
      name: '@portcullis/x',
      type: 'module',
      license: 'MIT',
      exports: {
        '.': {
          'portcullis-source': './src/index.ts',
          types: './dist/index.d.ts',
          default: './dist/index.js',
        },
      },
      dependencies: { '@portcullis/core': 'workspace:*' },
    }),
  )
  writeFileSync(join(pkg, 'dist/index.js'), '')
  writeFileSync(
    join(pkg, 'dist/index.js.map'),
    JSON.stringify({ version: 3, sources: ['../src/index.ts'], mappings: '' }),
  )
  writeFileSync(join(pkg, 'LICENSE'), 'another licence')
  const tarball = join(dir, 'x.tgz')
  execFileSync('tar', ['czf', tarball, '-C', dir, 'package'])
  const problems = checkTarball(tarball, listTarball(tarball), 'MIT License')
  for (const expected of [
    "LICENSE differs from the repository's",
    'no README.md in the tarball',
    'package.json has no "keywords"',
    'dependencies.@portcullis/core is "workspace:*"',
    'exports["."]["portcullis-source"] names ./src/index.ts, which is not in the tarball',
    'exports["."]["types"] names ./dist/index.d.ts, which is not in the tarball',
    'dist/index.js.map points at src/index.ts, which is not in the tarball',
  ]) {
    t.ok(problems.includes(expected), expected)
  }
  t.notOk(
    problems.some((p) => p.includes('default names')),
    'a shipped target is fine',
  )
})
