import type { Subscription } from './session.ts'

/** Members of one `$share/{group}/{filter}`; delivery goes round-robin among online members. */
export interface SharedGroup {
  name: string
  subs: Subscription[]
  next: number
}

export interface MatchResult {
  subs: Subscription[]
  groups: SharedGroup[]
}

class Node {
  children: Map<string, Node> | null = null
  subs: Subscription[] | null = null
  shared: Map<string, SharedGroup> | null = null

  get empty(): boolean {
    return this.children === null && this.subs === null && this.shared === null
  }
}

const CACHE_MAX = 4096

/**
 * Subscription trie keyed by topic levels. Matching walks an explicit stack (no recursion), and results
 * are cached per topic until the next subscribe/unsubscribe, which keeps repeated topics cheap.
 */
export class TopicTrie {
  private readonly root = new Node()
  private cache = new Map<string, MatchResult>()
  private n = 0

  get size(): number {
    return this.n
  }

  add(sub: Subscription): void {
    let node = this.root
    for (const level of sub.filter.split('/')) {
      if (node.children === null) node.children = new Map()
      let child = node.children.get(level)
      if (child === undefined) {
        child = new Node()
        node.children.set(level, child)
      }
      node = child
    }
    if (sub.share === undefined) {
      if (node.subs === null) node.subs = []
      node.subs.push(sub)
    } else {
      if (node.shared === null) node.shared = new Map()
      let g = node.shared.get(sub.share)
      if (g === undefined) {
        g = { name: sub.share, subs: [], next: 0 }
        node.shared.set(sub.share, g)
      }
      g.subs.push(sub)
    }
    this.n++
    this.cache.clear()
  }

  /** Removes this exact subscription object; prunes empty nodes. */
  remove(sub: Subscription): boolean {
    const path: Array<[Node, string]> = []
    let node: Node | undefined = this.root
    for (const level of sub.filter.split('/')) {
      const child: Node | undefined = node.children?.get(level)
      if (child === undefined) return false
      path.push([node, level])
      node = child
    }
    let removed = false
    if (sub.share === undefined) {
      const i = node.subs?.indexOf(sub) ?? -1
      if (i >= 0 && node.subs) {
        node.subs.splice(i, 1)
        if (node.subs.length === 0) node.subs = null
        removed = true
      }
    } else {
      const g = node.shared?.get(sub.share)
      const i = g ? g.subs.indexOf(sub) : -1
      if (g && i >= 0) {
        g.subs.splice(i, 1)
        if (g.subs.length === 0) node.shared?.delete(sub.share)
        if (node.shared?.size === 0) node.shared = null
        removed = true
      }
    }
    if (!removed) return false
    this.n--
    this.cache.clear()
    for (let i = path.length - 1; i >= 0 && node.empty; i--) {
      const [parent, level] = path[i] as [Node, string]
      parent.children?.delete(level)
      if (parent.children?.size === 0) parent.children = null
      node = parent
    }
    return true
  }

  match(topic: string): MatchResult {
    const hit = this.cache.get(topic)
    if (hit !== undefined) return hit
    const result: MatchResult = { subs: [], groups: [] }
    const levels = topic.split('/')
    // [MQTT-4.7.2-1] topics starting with '$' are not matched by filters starting with a wildcard
    const dollar = topic.charCodeAt(0) === 36
    const nodes: Node[] = [this.root]
    const depths: number[] = [0]
    while (nodes.length > 0) {
      const node = nodes.pop() as Node
      const depth = depths.pop() as number
      if (depth === levels.length) {
        collect(node, result)
        const hash = node.children?.get('#') // 'a/#' also matches 'a'
        if (hash !== undefined) collect(hash, result)
        continue
      }
      const children = node.children
      if (children === null) continue
      const wildOk = depth > 0 || !dollar
      if (wildOk) {
        const hash = children.get('#')
        if (hash !== undefined) collect(hash, result)
        const plus = children.get('+')
        if (plus !== undefined) {
          nodes.push(plus)
          depths.push(depth + 1)
        }
      }
      const exact = children.get(levels[depth] as string)
      if (exact !== undefined) {
        nodes.push(exact)
        depths.push(depth + 1)
      }
    }
    if (this.cache.size >= CACHE_MAX) this.cache.clear()
    this.cache.set(topic, result)
    return result
  }
}

function collect(node: Node, out: MatchResult): void {
  if (node.subs !== null) for (const s of node.subs) out.subs.push(s)
  if (node.shared !== null) for (const g of node.shared.values()) out.groups.push(g)
}
