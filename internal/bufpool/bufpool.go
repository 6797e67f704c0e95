// Package bufpool recycles the byte buffers of WinRM exchanges (request bodies, sealed frames,
// reply bodies: a few KB to a few ten KB each, about twenty per audited host) across hosts, so
// that a fleet run allocates them once per concurrent host instead of once per message.
//
// A buffer is owned by whoever got it from Get until it is handed back with Put; after Put neither
// the buffer nor any slice of it may be read or written again. A buffer that is never put back is
// simply collected.
package bufpool

import (
	"math/bits"
	"os"
	"sync"
	"sync/atomic"
)

const (
	minShift = 12 // the smallest class: 4 KiB
	classes  = 5  // 4, 8, 16, 32 and 64 KiB
)

// MaxSize is the largest capacity Get serves from the pool and Put keeps; larger buffers are
// allocated and collected as usual.
const MaxSize = 1 << (minShift + classes - 1)

// pools[i] holds buffers whose capacity is at least 1<<(minShift+i) (and below the next class).
var pools [classes]sync.Pool

// Get returns an empty buffer with room for at least n bytes. For n up to MaxSize it comes from the
// pool when one is there; its capacity may be larger than n.
func Get(n int) []byte {
	if n > MaxSize {
		return make([]byte, 0, n)
	}
	c := ceilClass(n)
	if p, ok := pools[c].Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, 1<<(minShift+c))
}

// Put hands b back for reuse; b must not be used afterwards. Buffers below 4 KiB or above MaxSize
// are left to the collector.
func Put(b []byte) {
	c := cap(b)
	if c < 1<<minShift || c > MaxSize {
		return
	}
	if poison.Load() {
		b = b[:c]
		for i := range b {
			b[i] = poisonByte
		}
	}
	b = b[:0]
	pools[floorClass(c)].Put(&b)
}

// poison makes Put overwrite every buffer it takes back (SetPoison).
var poison atomic.Bool

// poisonByte fills a buffer put back while poisoning: not valid UTF-8, XML or base64.
const poisonByte = 0xDB

// SetPoison turns poisoning on or off, for tests: a buffer put back is overwritten at once, so a
// caller that still reads the bytes it handed back (or a slice of them) sees garbage and fails
// visibly instead of working by luck until the buffer is reused.
func SetPoison(on bool) { poison.Store(on) }

// ceilClass is the smallest class whose buffers all hold n bytes.
func ceilClass(n int) int {
	if n <= 1<<minShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minShift
}

// floorClass is the largest class whose minimum capacity c reaches.
func floorClass(c int) int {
	return bits.Len(uint(c)) - 1 - minShift
}

// TestMain runs a package's tests with poisoning on; a package's test file calls it from its own
// TestMain (func TestMain(m *testing.M) { bufpool.TestMain(m) }) so that any use of a buffer after
// it went back fails a test instead of passing until the buffer happens to be reused.
func TestMain(m interface{ Run() int }) {
	SetPoison(true)
	os.Exit(m.Run())
}
