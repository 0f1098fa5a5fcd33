package pytrace

import (
	"fmt"
	"math"
	"math/bits"
)

// validator applies ops one at a time, checks them against the blocks
// created and freed so far, and builds the Trace and its Stats.
type validator struct {
	t *Trace
	// live has bit id set while block id is live: one bit per ID (under
	// 300 KB for the public traces) keeps it in cache.
	live []uint64
	// size[id] is block id's requested size, to subtract from the live
	// bytes when it dies; size[0] is unused.
	size       []uint64
	liveBytes  uint64
	liveBlocks uint64
	hints      hints
}

func newValidator(t *Trace) *validator {
	return &validator{t: t, live: make([]uint64, 1), size: make([]uint64, 1)}
}

// apply checks op k with the numbers v (as parseOp gave them) and appends
// it. On error nothing is appended, but the validator must not be used
// again: the trace is rejected as a whole.
func (c *validator) apply(k Kind, v *[3]uint64) error {
	t := c.t
	switch k {
	case Malloc:
		if err := c.checkNew(v[0], v[1], 0); err != nil {
			return err
		}
		c.create(k, 0, v[1])
		t.Stats.Mallocs++
	case Calloc:
		hi, size := bits.Mul64(v[1], v[2])
		if hi != 0 {
			return fmt.Errorf("calloc(%d, %d): nelem*elsize overflows 64 bits", v[1], v[2])
		}
		if err := c.checkNew(v[0], size, 0); err != nil {
			return err
		}
		// len(Callocs) < MaxID < 2^32: each calloc also makes an ID.
		c.create(k, uint32(len(t.Callocs)), size)
		if len(t.Callocs) == cap(t.Callocs) {
			t.Callocs = grow(t.Callocs, c.hints.callocs)
		}
		t.Callocs = append(t.Callocs, CallocArgs{Nelem: v[1], Elsize: v[2]})
		t.Stats.Callocs++
	case Realloc:
		var oldSize uint64
		if v[0] != 0 {
			// Checked first so that the size check below knows what the
			// old block gives back; checkLive refuses v[0] >= the new ID,
			// which covers "r N N SIZE".
			if err := c.checkLive("realloc", v[0]); err != nil {
				return err
			}
			oldSize = c.size[v[0]]
		}
		if err := c.checkNew(v[1], v[2], oldSize); err != nil {
			return err
		}
		if v[0] != 0 {
			c.kill(uint32(v[0]))
		}
		c.create(k, uint32(v[0]), v[2])
		t.Stats.Reallocs++
	case Free:
		if err := c.checkLive("free", v[0]); err != nil {
			return err
		}
		c.kill(uint32(v[0]))
		c.appendOp(makeOp(Free, uint32(v[0]), 0, 0))
		t.Stats.Frees++
	}
	return nil
}

// checkNew checks the ID and size of a block about to be created; freeing
// is the size of the block that dies in the same op (a realloc's old one).
func (c *validator) checkNew(id, size, freeing uint64) error {
	switch next := uint64(c.t.MaxID) + 1; {
	case id == 0:
		return fmt.Errorf("new block with ID 0 (IDs start at 1; want %d)", next)
	case id > math.MaxUint32:
		return fmt.Errorf("new block ID %d is over 2^32-1", id)
	case id != next:
		return fmt.Errorf("new block ID %d, want %d (IDs must be dense: each new block takes the previous largest ID + 1)", id, next)
	}
	if size > sizeMask {
		return fmt.Errorf("size %d does not fit in 62 bits", size)
	}
	// A replayer sums sizes too; refuse a trace whose live bytes cannot be
	// counted (no real process gets there: the sizes are of live memory).
	if rest := c.liveBytes - freeing; rest+size < size {
		return fmt.Errorf("size %d: live bytes overflow 64 bits", size)
	}
	return nil
}

// checkLive checks that what (free or realloc) names a live block.
func (c *validator) checkLive(what string, id uint64) error {
	switch {
	case id == 0:
		return fmt.Errorf("%s of ID 0, which is never a block", what)
	case id > uint64(c.t.MaxID):
		return fmt.Errorf("%s of ID %d, which was never allocated", what, id)
	case c.live[id>>6]&(1<<(id&63)) == 0:
		return fmt.Errorf("%s of ID %d, which is not live (already freed or reallocated)", what, id)
	}
	return nil
}

// kill ends the life of a block that checkLive accepted.
func (c *validator) kill(id uint32) {
	c.live[id>>6] &^= 1 << (id & 63)
	c.liveBlocks--
	c.liveBytes -= c.size[id]
}

// create appends an op making block MaxID+1, which checkNew accepted.
func (c *validator) create(k Kind, old uint32, size uint64) {
	t := c.t
	t.MaxID++
	id := t.MaxID
	c.appendOp(makeOp(k, id, old, size))
	if int(id>>6) == len(c.live) {
		c.live = append(c.live, 0)
	}
	c.live[id>>6] |= 1 << (id & 63)
	if len(c.size) == cap(c.size) {
		c.size = grow(c.size, c.hints.ids)
	}
	c.size = append(c.size, size) // IDs are dense: this is size[id]
	c.liveBlocks++
	c.liveBytes += size
	if c.liveBytes > t.Stats.PeakLiveBytes {
		t.Stats.PeakLiveBytes = c.liveBytes
		t.Stats.PeakLiveBytesOp = len(t.Ops)
	}
	if c.liveBlocks > t.Stats.PeakLiveBlocks {
		t.Stats.PeakLiveBlocks = c.liveBlocks
	}
}

// appendOp appends o to the trace, growing by the header's hint.
func (c *validator) appendOp(o Op) {
	if len(c.t.Ops) == cap(c.t.Ops) {
		c.t.Ops = grow(c.t.Ops, c.hints.ops)
	}
	c.t.Ops = append(c.t.Ops, o)
}

// finish records the end-of-trace statistics.
func (c *validator) finish() {
	c.t.Stats.LiveAtEnd = c.liveBlocks
	c.t.Stats.LiveBytesAtEnd = c.liveBytes
}
