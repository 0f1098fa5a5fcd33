package rawalloc

import "unsafe"

// header is the 16 bytes in front of every block's data. Its layout is the
// same on 32- and 64-bit platforms, so data stays 16-byte aligned.
type header struct {
	// capacity is the number of usable data bytes after the header.
	capacity uint64
	// state is stateMagic<<stateMagicShift | flags | class.
	state uint64
}

// headerBytes is the size of a block header; it is a multiple of
// alignBytes so that data after an aligned header is aligned too.
const headerBytes = uintptr(unsafe.Sizeof(header{}))

const (
	// stateMagic marks a header written by this package ("RAWALC"); a
	// header whose top 48 bits differ has been overwritten.
	stateMagic      = 0x524157414c43
	stateMagicShift = 16
	// flagLive is set while the block is allocated, clear while it is free.
	flagLive = 1 << 8
	// flagBig marks a big block (a mapping of its own); its class bits are 0.
	flagBig = 1 << 9
	// classMask extracts the size class of a class block.
	classMask = 0xff
	// knownBits are all the bits a sane state word may have below the magic.
	knownBits = flagLive | flagBig | classMask
)

func init() {
	if headerBytes%alignBytes != 0 {
		panic("rawalloc: header size is not a multiple of the alignment")
	}
}

// headerOf returns the header of the block whose data starts at data. The
// caller has established that a block starts there (or that data-16 lies in
// the heap's own mapping, for the diagnostics of a misused address).
func headerOf(data uintptr) *header {
	return (*header)(ptr(data - headerBytes))
}

// classState is the state word of a class block of class c.
func classState(c int, live bool) uint64 {
	s := uint64(stateMagic)<<stateMagicShift | uint64(c)
	if live {
		s |= flagLive
	}
	return s
}

// bigState is the state word of a big block.
func bigState(live bool) uint64 {
	s := uint64(stateMagic)<<stateMagicShift | flagBig
	if live {
		s |= flagLive
	}
	return s
}

// saneClassHeader reports whether hd is a well-formed header of a class
// block, live or free.
func saneClassHeader(hd *header) bool {
	s := hd.state
	if s>>stateMagicShift != stateMagic || s&^(uint64(stateMagic)<<stateMagicShift)&^knownBits != 0 {
		return false
	}
	if s&flagBig != 0 {
		return false
	}
	c := int(s & classMask)
	return c < numClasses && hd.capacity == uint64(classBytes[c])
}

// saneBigHeader reports whether hd is a well-formed header of the big
// block of a mapping whose capacity is capacity bytes.
func saneBigHeader(hd *header, capacity uintptr) bool {
	s := hd.state
	return s&^flagLive == bigState(false) && hd.capacity == uint64(capacity)
}
