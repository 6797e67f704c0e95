package readall

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadAllLikeIOReadAll: for data of several sizes, readers that return data and EOF together,
// one byte at a time or fail half way, and hints that are exact, short, long, negative or huge,
// ReadAll returns the same bytes and error as io.ReadAll.
func TestReadAllLikeIOReadAll(t *testing.T) {
	boom := errors.New("boom")
	readers := map[string]func([]byte) io.Reader{
		"plain":   func(b []byte) io.Reader { return bytes.NewReader(b) },
		"onebyte": func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"dataerr": func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) },
		"halfway": func(b []byte) io.Reader { return io.MultiReader(bytes.NewReader(b[:len(b)/2]), iotest.ErrReader(boom)) },
		"wrapped": func(b []byte) io.Reader { return io.MultiReader(bytes.NewReader(b), iotest.ErrReader(errWrappedEOF)) },
		"limited": func(b []byte) io.Reader { return io.LimitReader(bytes.NewReader(b), int64(len(b)/3)) },
	}
	for _, size := range []int{0, 1, 511, 512, 513, 4096, 5500, 70000} {
		data := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		for name, mk := range readers {
			want, wantErr := io.ReadAll(mk(data))
			for _, hint := range []int64{int64(size), int64(size) - 1, int64(size) + 100, 0, -1, 1 << 30} {
				got, err := ReadAll(mk(data), hint)
				if !bytes.Equal(got, want) || !sameErr(err, wantErr) {
					t.Fatalf("size %d, %s, hint %d: %d bytes, %v; io.ReadAll: %d bytes, %v", size, name, hint, len(got), err, len(want), wantErr)
				}
			}
		}
	}
}

var errWrappedEOF = wrapped{io.EOF}

type wrapped struct{ error }

func (w wrapped) Unwrap() error { return w.error }

func sameErr(a, b error) bool { return a == b || a != nil && b != nil && a.Error() == b.Error() }

// TestReadAllRequestBodyOneAllocation: a request body of its declared Content-Length is read with
// one allocation (io.ReadAll needs several as it grows).
func TestReadAllRequestBodyOneAllocation(t *testing.T) {
	body := strings.Repeat("x", 5500)
	const runs = 20
	var reqs []*http.Request
	for range runs + 1 { // AllocsPerRun runs once more to warm up
		reqs = append(reqs, httptest.NewRequest(http.MethodPost, "/wsman", strings.NewReader(body)))
	}
	i := 0
	allocs := testing.AllocsPerRun(runs, func() {
		r := reqs[i]
		i++
		if got, err := ReadAll(r.Body, r.ContentLength); err != nil || len(got) != len(body) {
			t.Fatalf("%d bytes, %v", len(got), err)
		}
	})
	if allocs != 1 {
		t.Errorf("%v allocations per body, want 1", allocs)
	}
}

// TestAppendKeepsPrefixAndReusesRoom: Append returns b's bytes followed by what io.ReadAll reads,
// for the same readers, sizes and hints; with room enough in b it allocates nothing.
func TestAppendKeepsPrefixAndReusesRoom(t *testing.T) {
	prefix := []byte("prefix:")
	for _, size := range []int{0, 1, 512, 5500, 70000} {
		data := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		for _, hint := range []int64{int64(size), int64(size) - 1, 0, -1, 1 << 30} {
			for _, room := range []int{0, size + 1, size + 600} {
				b := append(make([]byte, 0, len(prefix)+room), prefix...)
				got, err := Append(b, iotest.OneByteReader(bytes.NewReader(data)), hint)
				if err != nil || !bytes.Equal(got, append(append([]byte(nil), prefix...), data...)) {
					t.Fatalf("size %d, hint %d, room %d: %d bytes, %v", size, hint, room, len(got), err)
				}
			}
		}
	}
	buf := make([]byte, 0, 8000)
	r := bytes.NewReader(make([]byte, 5500))
	allocs := testing.AllocsPerRun(20, func() {
		r.Seek(0, io.SeekStart)
		if got, err := Append(buf[:0], r, 5500); err != nil || len(got) != 5500 || &got[0] != &buf[:1][0] {
			t.Fatalf("%d bytes, %v, or not in buf", len(got), err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations with room in b, want 0", allocs)
	}
}
