// Package readall reads a request body or a pipe to its end with one allocation when its size is
// known in advance.
package readall

import (
	"io"
)

// maxHint bounds the capacity a size hint reserves up front: a client can declare any
// Content-Length, so a larger body grows as it arrives, as with io.ReadAll.
const maxHint = 1 << 20

// ReadAll reads r until EOF or an error and returns what it read, exactly like io.ReadAll (a nil
// error at EOF). It starts with room for sizeHint bytes (a declared Content-Length, or the size a
// caller expects), so that data of that size is read without growing the buffer; a negative hint,
// or one above 1 MiB, starts with io.ReadAll's 512 bytes.
func ReadAll(r io.Reader, sizeHint int64) ([]byte, error) {
	return Append(nil, r, sizeHint)
}

// Append is ReadAll appending to b (for example a pooled buffer): it makes room for sizeHint bytes
// after b's length first, as ReadAll reserves them.
func Append(b []byte, r io.Reader, sizeHint int64) ([]byte, error) {
	n := 512
	if sizeHint >= 0 && sizeHint < maxHint {
		n = int(sizeHint) + 1 // one byte more, to see EOF without growing
	}
	if cap(b)-len(b) < n {
		// One allocation (slices.Grow makes two under the race detector).
		b = append(make([]byte, 0, len(b)+n), b...)
	}
	for {
		m, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err != nil {
			if err == io.EOF { // io.ReadAll compares the same way: a wrapped EOF is an error
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // let append pick the next capacity
		}
	}
}
