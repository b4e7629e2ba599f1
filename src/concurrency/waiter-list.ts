/**
 * An intrusive doubly linked list of waiters.
 *
 * Every blocking primitive here queues its waiters in one of these. The links
 * live on the waiter itself, so a waiter that gives up (its signal aborted, or
 * it lost a `select`) unlinks itself in O(1) without searching, and nothing
 * dead is ever left behind in a queue.
 *
 * @module
 */

/** The link fields a waiter carries so that a {@link WaiterList} can hold it. */
export interface WaiterLink<Node extends WaiterLink<Node>> {
  /** The node before this one, or `undefined` at the head. */
  linkPrevious: Node | undefined;
  /** The node after this one, or `undefined` at the tail. */
  linkNext: Node | undefined;
  /** The list holding this node; `undefined` while unlinked. Invariant: a node is in at most one list. */
  linkList: WaiterList<Node> | undefined;
}

/**
 * A FIFO queue of nodes with O(1) `push`, `shift` and `remove`.
 *
 * Not thread-safe (nothing in one isolate needs it to be); ownership of a node
 * passes to the list on `push` and back to the caller on `shift`/`remove`.
 */
export class WaiterList<Node extends WaiterLink<Node>> {
  #head: Node | undefined = undefined;
  #tail: Node | undefined = undefined;
  // Invariant: #length counts the nodes reachable from #head; it is 0 exactly when #head and #tail are undefined.
  #length = 0;

  /** How many nodes are linked. */
  get length(): number {
    return this.#length;
  }

  /** The oldest node, without removing it. */
  get head(): Node | undefined {
    return this.#head;
  }

  /**
   * Appends `node` at the tail.
   *
   * @throws Error when `node` is already in a list (a programmer error that would corrupt both lists).
   */
  push(node: Node): void {
    if (node.linkList !== undefined) throw new Error('Cannot push waiter: it is already in a list');
    node.linkList = this;
    node.linkPrevious = this.#tail;
    node.linkNext = undefined;
    if (this.#tail === undefined) this.#head = node;
    else this.#tail.linkNext = node;
    this.#tail = node;
    this.#length++;
  }

  /** Removes and returns the oldest node, or `undefined` when the list is empty. */
  shift(): Node | undefined {
    const node = this.#head;
    if (node !== undefined) this.#unlink(node);
    return node;
  }

  /**
   * Removes `node` if this list holds it.
   *
   * @returns whether the node was removed (false when it was not in this list).
   */
  remove(node: Node): boolean {
    if (node.linkList !== this) return false;
    this.#unlink(node);
    return true;
  }

  /** Iterates from head to tail. Do not modify the list while iterating; collect first. */
  *[Symbol.iterator](): IterableIterator<Node> {
    for (let node = this.#head; node !== undefined; node = node.linkNext) yield node;
  }

  #unlink(node: Node): void {
    const previous = node.linkPrevious;
    const next = node.linkNext;
    if (previous === undefined) this.#head = next;
    else previous.linkNext = next;
    if (next === undefined) this.#tail = previous;
    else next.linkPrevious = previous;
    node.linkPrevious = undefined;
    node.linkNext = undefined;
    node.linkList = undefined;
    this.#length--;
    if (this.#length < 0 || (this.#length === 0) !== (this.#head === undefined)) {
      throw new Error(`WaiterList invariant broken: length ${this.#length} disagrees with its links`);
    }
  }
}
