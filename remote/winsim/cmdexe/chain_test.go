package cmdexe

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
)

// TestLongAmpChain: a line of many commands joined by & (run in a loop, not by recursion) runs
// each of them in order, stops at EXIT, and returns the last one's code; && and || inside the
// chain keep their precedence.
func TestLongAmpChain(t *testing.T) {
	var parts, want []string
	for i := range 700 {
		parts = append(parts, "echo "+strconv.Itoa(i))
		want = append(want, strconv.Itoa(i)+" ")
	}
	sh := testShell("")
	var out bytes.Buffer
	rc := sh.Run(context.Background(), strings.Join(parts, " & ")+" & reg code 7", nil, &out, nil)
	if rc != 7 || out.String() != strings.Join(want, "\r\n")+"\r\nARGS:code|7\r\n" {
		t.Fatalf("rc=%d out=%.200q...", rc, out.String())
	}

	out.Reset()
	rc = sh.Run(context.Background(), "echo a & reg code 2 && echo no || echo yes & exit /b 4 & echo never & reg code 9", nil, &out, nil)
	if rc != 4 || out.String() != "a \r\nARGS:code|2\r\nyes \r\n" {
		t.Fatalf("rc=%d out=%q", rc, out.String())
	}
}
