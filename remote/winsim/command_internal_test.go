package winsim

import (
	"io"
	"testing"
)

// TestWriteStdinKeepsSendOrder: a Send of data and then an empty Send with End (masterzen's way
// of sending a stdin reader) reach the process as the data, then EOF, whatever the scheduling.
func TestWriteStdinKeepsSendOrder(t *testing.T) {
	for i := range 500 {
		c := newCommand("C", 65001, func() {})
		c.writeStdin([]byte("y\r\n"), false)
		c.writeStdin([]byte("n"), false)
		c.writeStdin(nil, true)
		got, err := io.ReadAll(c.stdin)
		if err != nil || string(got) != "y\r\nn" {
			t.Fatalf("run %d: stdin %q, %v", i, got, err)
		}
	}
}
