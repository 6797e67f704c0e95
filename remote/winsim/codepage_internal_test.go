package winsim

import (
	"bytes"
	"io"
	"testing"
)

// TestEncoderSplitWrites: output written in pieces that cut UTF-8 sequences apart converts exactly
// like the whole text written at once, for every code page, and appends to what is pending.
func TestEncoderSplitWrites(t *testing.T) {
	text := []byte("Größe: 5 € — ok\r\n")
	for _, cp := range []int{65001, 437, 850, 1252} {
		want := newEncoder(cp).appendEncoded([]byte("pending"), text)
		for cut := 0; cut <= len(text); cut++ {
			e := newEncoder(cp)
			got := e.appendEncoded([]byte("pending"), text[:cut])
			got = e.appendEncoded(got, text[cut:])
			if !bytes.Equal(got, want) {
				t.Fatalf("cp %d, cut at %d: %q, want %q", cp, cut, got, want)
			}
		}
		if cp == 437 && !bytes.Equal(want, []byte("pendingGr\x94\xe1e: 5 ? ? ok\r\n")) {
			t.Fatalf("cp 437: %q", want)
		}
	}
}

// TestStreamWriterWriteString: text written with io.WriteString reaches the pending output exactly
// as with Write, in a UTF-8 shell and in an OEM code page.
func TestStreamWriterWriteString(t *testing.T) {
	parts := []string{"Größe ", "\xc3", "\xa4 ok\r\n", ""}
	for _, cp := range []int{65001, 437} {
		a, b := newCommand("a", cp, func() {}), newCommand("b", cp, func() {})
		wa, wb := a.stdoutWriter(), b.stdoutWriter()
		for _, p := range parts {
			_, _ = io.WriteString(wa, p)
			_, _ = wb.Write([]byte(p))
		}
		if !bytes.Equal(a.out[0], b.out[0]) || len(a.out[0]) == 0 {
			t.Errorf("cp %d: WriteString gave %q, Write %q", cp, a.out[0], b.out[0])
		}
	}
}
