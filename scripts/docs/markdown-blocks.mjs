// Finds the repository's Markdown documents and the fenced code blocks in them.
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'

const SKIP_DIRS = new Set(['node_modules', 'dist', '.git', '.tap', '.changeset', 'coverage', 'results'])
const CODE_LANGS = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs'])

/** Every `*.md` file of the repository (change logs aside), so a new package's README is found without a list. */
export function findDocs(root) {
  const found = []
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) {
        if (!SKIP_DIRS.has(entry.name) && !entry.name.startsWith('.docs')) walk(join(dir, entry.name))
      } else if (entry.name.endsWith('.md') && entry.name !== 'CHANGELOG.md') {
        found.push(relative(root, join(dir, entry.name)))
      }
    }
  }
  walk(root)
  return found.sort()
}

/**
 * The fenced blocks of a CommonMark document: `{ lang, meta, code, line, heading }`. `meta` are the
 * words after the language in the info string (```` ```ts run ````); `heading` is the nearest
 * heading above; an indented fence (inside a list item) loses its indentation.
 */
export function extractBlocks(markdown) {
  const lines = markdown.split('\n')
  const blocks = []
  let heading = ''
  for (let i = 0; i < lines.length; i++) {
    const open = /^( {0,3}|\s*)(`{3,}|~{3,})(.*)$/.exec(lines[i])
    if (!open) {
      const h = /^#{1,6}\s+(.*)$/.exec(lines[i])
      if (h) heading = h[1].trim()
      continue
    }
    const [, indent, fence, info] = open
    const [lang = '', ...meta] = info.trim().split(/\s+/).filter(Boolean)
    const body = []
    let j = i + 1
    for (; j < lines.length; j++) {
      const close = new RegExp(`^\\s*${fence[0]}{${fence.length},}\\s*$`).exec(lines[j])
      if (close) break
      body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j].trimStart())
    }
    blocks.push({ lang: lang.toLowerCase(), meta, code: `${body.join('\n')}\n`, line: i + 1, heading })
    i = j
  }
  return blocks
}

/** Blocks in TypeScript or JavaScript: the ones the docs test checks. */
export const isCodeBlock = (block) => CODE_LANGS.has(block.lang)

/** A document-wide setting: `<!-- docs-test app=express -->` somewhere in the document. */
export function docSettings(markdown) {
  const settings = {}
  for (const match of markdown.matchAll(/<!--\s*docs-test\s+([^>]*?)\s*-->/g)) {
    for (const pair of match[1].split(/\s+/)) {
      const [key, value = 'true'] = pair.split('=')
      settings[key] = value
    }
  }
  return settings
}

export function readDoc(root, path) {
  const markdown = readFileSync(join(root, path), 'utf8')
  return { path, settings: docSettings(markdown), blocks: extractBlocks(markdown) }
}
