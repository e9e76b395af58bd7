package handles

// links are the neighbours of a value in one chain; the value embeds them,
// so keeping it in order costs no allocation.
type links[T any] struct {
	prev, next *T
	linked     bool
}

// chain is an intrusive doubly-linked list in insertion order. at returns
// the links a value uses for this chain.
type chain[T any] struct {
	front, back *T
	n           int
	at          func(*T) *links[T]
}

func (c *chain[T]) pushBack(x *T) {
	l := c.at(x)
	l.prev, l.next, l.linked = c.back, nil, true
	if c.back != nil {
		c.at(c.back).next = x
	} else {
		c.front = x
	}
	c.back = x
	c.n++
}

func (c *chain[T]) remove(x *T) {
	l := c.at(x)
	if !l.linked {
		return
	}
	if l.prev != nil {
		c.at(l.prev).next = l.next
	} else {
		c.front = l.next
	}
	if l.next != nil {
		c.at(l.next).prev = l.prev
	} else {
		c.back = l.prev
	}
	l.prev, l.next, l.linked = nil, nil, false
	c.n--
}

func (c *chain[T]) moveToBack(x *T) {
	if c.back == x {
		return
	}
	c.remove(x)
	c.pushBack(x)
}
