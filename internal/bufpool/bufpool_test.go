package bufpool

import "testing"

// TestGetHoldsN: every size up to MaxSize gets a buffer with room for it, whatever was put back
// before (buffers of every capacity between 4 KiB and MaxSize, incl. ones append grew to odd sizes).
func TestGetHoldsN(t *testing.T) {
	for c := 1 << minShift; c <= MaxSize; c += 1531 {
		Put(make([]byte, 17, c))
	}
	for n := 0; n <= MaxSize+10; n += 97 {
		b := Get(n)
		if len(b) != 0 || cap(b) < n {
			t.Fatalf("Get(%d): len %d cap %d", n, len(b), cap(b))
		}
		Put(b)
	}
}

func TestClasses(t *testing.T) {
	for _, tc := range []struct{ n, ceil int }{
		{0, 0}, {1, 0}, {4096, 0}, {4097, 1}, {8192, 1}, {8193, 2}, {65536, 4},
	} {
		if got := ceilClass(tc.n); got != tc.ceil {
			t.Errorf("ceilClass(%d) = %d, want %d", tc.n, got, tc.ceil)
		}
	}
	for _, tc := range []struct{ c, floor int }{
		{4096, 0}, {8191, 0}, {8192, 1}, {65535, 3}, {65536, 4},
	} {
		if got := floorClass(tc.c); got != tc.floor {
			t.Errorf("floorClass(%d) = %d, want %d", tc.c, got, tc.floor)
		}
	}
}

// TestPutIgnoresOutsizedBuffers: a small or huge buffer is not pooled (a later Get never returns it).
func TestPutIgnoresOutsizedBuffers(t *testing.T) {
	small, huge := make([]byte, 0, 100), make([]byte, 0, MaxSize+1)
	Put(small)
	Put(huge)
	for range 100 {
		b := Get(10)
		if cap(b) == 100 || cap(b) == MaxSize+1 {
			t.Fatalf("Get returned an outsized buffer (cap %d)", cap(b))
		}
	}
}

func BenchmarkGetPut(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		buf := Get(7000)
		buf = append(buf, "x"...)
		Put(buf)
	}
}

// TestPoisonOverwrites: with poisoning on, a buffer is overwritten in full capacity when it is put
// back, so a stale slice of it shows garbage.
func TestPoisonOverwrites(t *testing.T) {
	SetPoison(true)
	defer SetPoison(false)
	b := append(Get(5000), "<s:Envelope>"...)
	stale := b[:12]
	Put(b)
	for i, c := range stale[:cap(stale)] {
		if c != poisonByte {
			t.Fatalf("byte %d = %#x after Put, want poison", i, c)
		}
	}
}
