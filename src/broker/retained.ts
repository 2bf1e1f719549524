import type { Message } from '../core/types.ts'

class RNode {
  children: Map<string, RNode> | null = null
  message: Message | null = null
}

/** Retained messages by topic, in a level tree so wildcard subscriptions find theirs without a full scan. */
export class RetainedTree {
  private readonly root = new RNode()
  private n = 0

  get size(): number {
    return this.n
  }

  get(topic: string): Message | null {
    let node: RNode | undefined = this.root
    for (const level of topic.split('/')) {
      node = node.children?.get(level)
      if (node === undefined) return null
    }
    return node.message
  }

  set(m: Message): void {
    let node = this.root
    for (const level of m.topic.split('/')) {
      if (node.children === null) node.children = new Map()
      let child = node.children.get(level)
      if (child === undefined) {
        child = new RNode()
        node.children.set(level, child)
      }
      node = child
    }
    if (node.message === null) this.n++
    node.message = m
  }

  delete(topic: string): boolean {
    const path: Array<[RNode, string]> = []
    let node: RNode = this.root
    for (const level of topic.split('/')) {
      const child = node.children?.get(level)
      if (child === undefined) return false
      path.push([node, level])
      node = child
    }
    if (node.message === null) return false
    node.message = null
    this.n--
    for (let i = path.length - 1; i >= 0 && node.message === null && node.children === null; i--) {
      const [parent, level] = path[i] as [RNode, string]
      parent.children?.delete(level)
      if (parent.children?.size === 0) parent.children = null
      node = parent
    }
    return true
  }

  /** Retained messages matching a (non-shared) filter, iteratively. */
  match(filter: string): Message[] {
    const out: Message[] = []
    const levels = filter.split('/')
    const nodes: RNode[] = [this.root]
    const depths: number[] = [0]
    while (nodes.length > 0) {
      const node = nodes.pop() as RNode
      const depth = depths.pop() as number
      if (depth === levels.length) {
        if (node.message !== null) out.push(node.message)
        continue
      }
      const level = levels[depth] as string
      if (level === '#') {
        // 'a/#' matches 'a' itself and everything below
        if (node.message !== null && depth > 0) out.push(node.message)
        this.collectAll(node, depth === 0, out)
        continue
      }
      if (node.children === null) continue
      if (level === '+') {
        for (const [name, child] of node.children) {
          if (depth === 0 && name.startsWith('$')) continue // [MQTT-4.7.2-1]
          nodes.push(child)
          depths.push(depth + 1)
        }
      } else {
        const child = node.children.get(level)
        if (child !== undefined) {
          nodes.push(child)
          depths.push(depth + 1)
        }
      }
    }
    return out
  }

  private collectAll(start: RNode, skipDollar: boolean, out: Message[]): void {
    const stack: RNode[] = []
    if (start.children !== null) {
      for (const [name, child] of start.children) if (!(skipDollar && name.startsWith('$'))) stack.push(child)
    }
    while (stack.length > 0) {
      const node = stack.pop() as RNode
      if (node.message !== null) out.push(node.message)
      if (node.children !== null) for (const child of node.children.values()) stack.push(child)
    }
  }
}
