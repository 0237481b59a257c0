//! An index-based intrusive doubly linked list over a slab.
//!
//! Every policy keeps its entries in one [`Slab`] (a `Vec` of nodes plus a
//! free list) and threads them through one or more [`List`]s by `u32` index,
//! so moving an entry between queues is a few index writes: no allocation,
//! no `unsafe`, no `Rc<RefCell<_>>`.
//!
//! Orientation, used by every policy: the *front* of a list holds the newest
//! entry (libCacheSim's "head"), the *back* the oldest (its "tail", where
//! eviction looks first). `prev` points one step toward the front, `next` one
//! step toward the back.
//!
//! Invariants: a node is linked into at most one list at a time; a list's
//! `len` equals the number of nodes reachable from `front` by `next`, and the
//! walk ends at `back`.

/// The index meaning "no node".
pub(crate) const NIL: u32 = u32::MAX;

/// A slab node: the links plus the policy's value.
#[derive(Debug)]
pub(crate) struct Node<T> {
    pub(crate) prev: u32,
    pub(crate) next: u32,
    pub(crate) value: T,
}

/// A growable arena of nodes addressed by `u32` index; freed slots are reused.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    nodes: Vec<Option<Node<T>>>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self {
            nodes: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    /// Stores `value` in an unlinked node and returns its index.
    ///
    /// # Panics
    /// Panics if more than `u32::MAX - 1` nodes are live at once (far beyond
    /// any cache this crate builds).
    pub(crate) fn alloc(&mut self, value: T) -> u32 {
        let node = Node {
            prev: NIL,
            next: NIL,
            value,
        };
        if let Some(idx) = self.free.pop() {
            self.nodes[idx as usize] = Some(node);
            idx
        } else {
            let idx = u32::try_from(self.nodes.len())
                .ok()
                .filter(|&i| i != NIL)
                .unwrap_or_else(|| panic!("slab is limited to u32::MAX - 1 live nodes"));
            self.nodes.push(Some(node));
            idx
        }
    }

    /// Frees the node at `idx` and returns its value. The node MUST already
    /// be unlinked from every list.
    pub(crate) fn free(&mut self, idx: u32) -> T {
        let node = self.nodes[idx as usize]
            .take()
            .unwrap_or_else(|| panic!("slab index {idx} is not live"));
        self.free.push(idx);
        node.value
    }

    pub(crate) fn node(&self, idx: u32) -> &Node<T> {
        self.nodes[idx as usize]
            .as_ref()
            .unwrap_or_else(|| panic!("slab index {idx} is not live"))
    }

    pub(crate) fn node_mut(&mut self, idx: u32) -> &mut Node<T> {
        self.nodes[idx as usize]
            .as_mut()
            .unwrap_or_else(|| panic!("slab index {idx} is not live"))
    }

    pub(crate) fn get(&self, idx: u32) -> &T {
        &self.node(idx).value
    }

    pub(crate) fn get_mut(&mut self, idx: u32) -> &mut T {
        &mut self.node_mut(idx).value
    }

    /// The values of every live node, in index order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.nodes.iter().flatten().map(|node| &node.value)
    }

    /// Drops every node.
    pub(crate) fn clear(&mut self) {
        self.nodes.clear();
        self.free.clear();
    }

    /// Number of live nodes.
    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        self.nodes.len() - self.free.len()
    }
}

/// One doubly linked list threaded through a [`Slab`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct List {
    front: u32,
    back: u32,
    len: usize,
}

impl Default for List {
    fn default() -> Self {
        Self {
            front: NIL,
            back: NIL,
            len: 0,
        }
    }
}

impl List {
    pub(crate) fn back(&self) -> Option<u32> {
        (self.back != NIL).then_some(self.back)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Links the unlinked node `idx` at the front (newest end).
    pub(crate) fn push_front<T>(&mut self, slab: &mut Slab<T>, idx: u32) {
        let old_front = self.front;
        {
            let node = slab.node_mut(idx);
            node.prev = NIL;
            node.next = old_front;
        }
        if old_front == NIL {
            self.back = idx;
        } else {
            slab.node_mut(old_front).prev = idx;
        }
        self.front = idx;
        self.len += 1;
    }

    /// Links the unlinked node `idx` at the back (oldest end).
    pub(crate) fn push_back<T>(&mut self, slab: &mut Slab<T>, idx: u32) {
        let old_back = self.back;
        {
            let node = slab.node_mut(idx);
            node.next = NIL;
            node.prev = old_back;
        }
        if old_back == NIL {
            self.front = idx;
        } else {
            slab.node_mut(old_back).next = idx;
        }
        self.back = idx;
        self.len += 1;
    }

    /// Links the unlinked node `idx` just in front of the linked node `at`.
    pub(crate) fn insert_before<T>(&mut self, slab: &mut Slab<T>, at: u32, idx: u32) {
        let before = slab.node(at).prev;
        if before == NIL {
            self.push_front(slab, idx);
            return;
        }
        {
            let node = slab.node_mut(idx);
            node.prev = before;
            node.next = at;
        }
        slab.node_mut(before).next = idx;
        slab.node_mut(at).prev = idx;
        self.len += 1;
    }

    /// Unlinks node `idx`, which MUST be linked into this list.
    pub(crate) fn unlink<T>(&mut self, slab: &mut Slab<T>, idx: u32) {
        let (prev, next) = {
            let node = slab.node_mut(idx);
            let links = (node.prev, node.next);
            node.prev = NIL;
            node.next = NIL;
            links
        };
        if prev == NIL {
            self.front = next;
        } else {
            slab.node_mut(prev).next = next;
        }
        if next == NIL {
            self.back = prev;
        } else {
            slab.node_mut(next).prev = prev;
        }
        self.len -= 1;
    }

    /// Moves the linked node `idx` to the front.
    pub(crate) fn move_to_front<T>(&mut self, slab: &mut Slab<T>, idx: u32) {
        if self.front != idx {
            self.unlink(slab, idx);
            self.push_front(slab, idx);
        }
    }

    /// Unlinks and returns the back (oldest) node.
    #[cfg(test)]
    pub(crate) fn pop_back<T>(&mut self, slab: &mut Slab<T>) -> Option<u32> {
        let idx = self.back()?;
        self.unlink(slab, idx);
        Some(idx)
    }

    /// Indexes from back (oldest) to front (newest).
    pub(crate) fn iter_from_back<'a, T>(
        &self,
        slab: &'a Slab<T>,
    ) -> impl Iterator<Item = u32> + 'a {
        let mut cursor = self.back;
        std::iter::from_fn(move || {
            if cursor == NIL {
                return None;
            }
            let idx = cursor;
            cursor = slab.node(idx).prev;
            Some(idx)
        })
    }

    /// Forgets every node (the caller clears the slab).
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// Walks the list both ways and checks links and `len`; returns the
    /// indexes from front to back.
    #[cfg(test)]
    pub(crate) fn check<T>(&self, slab: &Slab<T>) -> Vec<u32> {
        let mut seen = Vec::new();
        let mut cursor = self.front;
        let mut prev = NIL;
        while cursor != NIL {
            let node = slab.node(cursor);
            assert_eq!(node.prev, prev, "broken prev link at {cursor}");
            seen.push(cursor);
            assert!(seen.len() <= self.len, "list longer than its len (cycle?)");
            prev = cursor;
            cursor = node.next;
        }
        assert_eq!(prev, self.back, "back does not end the walk");
        assert_eq!(seen.len(), self.len, "len disagrees with the walk");
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_unlink_and_reuse() {
        let mut slab = Slab::default();
        let mut list = List::default();
        let a = slab.alloc('a');
        let b = slab.alloc('b');
        let c = slab.alloc('c');
        list.push_front(&mut slab, a);
        list.push_front(&mut slab, b);
        list.push_back(&mut slab, c);
        assert_eq!(list.check(&slab), vec![b, a, c]);
        list.unlink(&mut slab, a);
        assert_eq!(list.check(&slab), vec![b, c]);
        list.insert_before(&mut slab, c, a);
        assert_eq!(list.check(&slab), vec![b, a, c]);
        list.move_to_front(&mut slab, c);
        assert_eq!(list.check(&slab), vec![c, b, a]);
        assert_eq!(list.pop_back(&mut slab), Some(a));
        assert_eq!(slab.free(a), 'a');
        let d = slab.alloc('d');
        assert_eq!(d, a, "freed slots are reused");
        assert_eq!(list.iter_from_back(&slab).collect::<Vec<_>>(), vec![b, c]);
    }
}
