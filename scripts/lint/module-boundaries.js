// ESLint rule: every import in src/ follows the module table (eslint.config.js, docs/architecture.md).
// Unlike no-restricted-imports it resolves relative paths (so `../config` means the same folder from any
// depth) and also sees `import()` and `import('x').T`, which src/ uses for lazy loading.
import { builtinModules } from 'node:module'
import path from 'node:path'

const builtins = new Set(builtinModules)

/**
 * @typedef {object} Unit
 * @property {string} name
 * @property {string[]} paths repo-relative folders or files that make up the unit
 * @property {string[]} [may] units it may import
 * @property {string[]} [files] repo files outside src/ it may import
 * @property {string[] | '*'} [packages] npm packages it may import ('*': any); Node built-ins always
 * @property {string[]} [typeOnly] units it may import types from (a known deviation)
 *
 * @typedef {object} Exception one file allowed one import outside its unit's row, with the reason
 * @property {string} file
 * @property {string} imports a unit name or an npm package
 * @property {string} why
 */

/** @param {string} p */
const posix = (p) => p.split(path.sep).join('/')

/** @param {string} spec */
function packageName(spec) {
  const parts = spec.split('/')
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? spec)
}

/**
 * @param {{ root: string, units: Unit[], exceptions: Exception[] }} table
 * @returns {import('eslint').Rule.RuleModule}
 */
export function moduleBoundaries({ root, units, exceptions }) {
  const names = new Set(units.map((u) => u.name))
  for (const u of units) {
    for (const n of [...(u.may ?? []), ...(u.typeOnly ?? [])]) if (!names.has(n)) throw new Error(`module table: ${u.name} names unknown module ${n}`)
  }
  for (const e of exceptions) if (!e.why) throw new Error(`module table: the exception for ${e.file} needs a reason`)
  /** @param {string} rel */
  const unitOf = (rel) => {
    let best = /** @type {{ unit: Unit, len: number } | null} */ (null)
    for (const unit of units) {
      for (const p of unit.paths) {
        if ((rel === p || rel.startsWith(p + '/')) && (!best || p.length > best.len)) best = { unit, len: p.length }
      }
    }
    return best?.unit ?? null
  }
  /** @param {Unit} u */
  const allowedText = (u) => {
    const pk = u.packages === '*' ? ['any npm package'] : (u.packages ?? [])
    const all = [...(u.may ?? []), ...(u.files ?? []), ...pk]
    return all.length ? all.join(', ') : 'nothing outside itself but Node built-ins'
  }

  return {
    meta: {
      type: 'problem',
      docs: { description: 'imports in src/ follow the module table in docs/architecture.md' },
      schema: [],
      messages: {
        forbidden: '{{unit}} ({{file}}) may not import {{target}}; {{unit}} may import: {{allowed}}. See the module table in docs/architecture.md',
        typeOnly: '{{unit}} ({{file}}) may import only types from {{target}} (use `import type`)',
        noUnit: '{{file}} belongs to no module: add a row for it to the module table in eslint.config.js and docs/architecture.md',
        noTarget: '{{target}} belongs to no module: add a row for it to the module table in eslint.config.js and docs/architecture.md',
      },
    },
    create(context) {
      const file = posix(path.relative(root, context.filename))
      if (!file.startsWith('src/')) return {}
      const unit = unitOf(file)
      if (!unit) {
        return {
          Program(node) {
            context.report({ node, messageId: 'noUnit', data: { file } })
          },
        }
      }
      const excepted = new Set(exceptions.filter((e) => e.file === file).map((e) => e.imports))

      /**
       * @param {import('estree').Node} node
       * @param {string} spec
       * @param {boolean} typeOnly
       */
      function check(node, spec, typeOnly) {
        const data = { unit: unit.name, file, target: spec, allowed: allowedText(unit) }
        if (spec.startsWith('.') || spec.startsWith('/')) {
          const target = posix(path.relative(root, path.resolve(path.dirname(context.filename), spec)))
          if (!target.startsWith('src/')) {
            if (!(unit.files ?? []).includes(target)) context.report({ node, messageId: 'forbidden', data: { ...data, target } })
            return
          }
          const to = unitOf(target)
          if (!to) {
            context.report({ node, messageId: 'noTarget', data: { target } })
            return
          }
          data.target = to.name
          if (to === unit || (unit.may ?? []).includes(to.name) || excepted.has(to.name)) return
          if ((unit.typeOnly ?? []).includes(to.name)) {
            if (!typeOnly) context.report({ node, messageId: 'typeOnly', data })
            return
          }
          context.report({ node, messageId: 'forbidden', data })
          return
        }
        if (spec.startsWith('node:') || builtins.has(spec) || builtins.has(packageName(spec))) return
        const pkg = packageName(spec)
        if (unit.packages === '*' || (unit.packages ?? []).includes(pkg) || excepted.has(pkg)) return
        context.report({ node, messageId: 'forbidden', data: { ...data, target: `${pkg} (npm)` } })
      }

      /**
       * @param {import('estree').Node} node
       * @param {boolean} typeOnly
       */
      const fromSource = (node, typeOnly) => {
        if (node.type === 'Literal' && typeof node.value === 'string') check(node, node.value, typeOnly)
        else if (node.type === 'TemplateLiteral' && node.expressions.length === 0) check(node, node.quasis[0]?.value.cooked ?? '', typeOnly)
      }
      /** @param {any} n import or export declaration (typescript-eslint adds importKind/exportKind) */
      const allTypes = (n, kind) =>
        n[kind] === 'type' || (n.specifiers.length > 0 && n.specifiers.every((s) => s[kind] === 'type' && s.type !== 'ImportDefaultSpecifier' && s.type !== 'ImportNamespaceSpecifier'))

      return {
        ImportDeclaration: (n) => fromSource(n.source, allTypes(n, 'importKind')),
        ExportNamedDeclaration: (n) => n.source && fromSource(n.source, allTypes(n, 'exportKind')),
        ExportAllDeclaration: (n) => fromSource(n.source, /** @type {any} */ (n).exportKind === 'type'),
        ImportExpression: (n) => fromSource(n.source, false),
        /** @param {any} n `import('x').T` in a type position */
        TSImportType: (n) => fromSource(n.source ?? n.argument?.literal, true),
        /** @param {any} n `import x = require('x')` */
        TSImportEqualsDeclaration: (n) => n.moduleReference.type === 'TSExternalModuleReference' && fromSource(n.moduleReference.expression, n.importKind === 'type'),
      }
    },
  }
}
