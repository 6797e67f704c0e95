package cmdexe

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestParseCacheKey: a cached tree is reused only where parsing would give the same tree: the
// same line in another working directory, without a file system, or with other programs listed
// is parsed again (each pair is run alternately, so the second of each finds the first cached).
func TestParseCacheKey(t *testing.T) {
	run := func(sh *Shell, line string) (int, string, string) {
		var out, errOut bytes.Buffer
		rc := sh.Run(context.Background(), line, nil, &out, &errOut)
		return rc, out.String(), errOut.String()
	}
	for range 2 {
		a, b := testShell(""), testShell("")
		_ = b.FS.MkdirAll(`C:\Users\other`)
		b.Cwd = `C:\Users\other`
		for _, sh := range []*Shell{a, b} {
			if rc, _, e := run(sh, `echo x>f.txt`); rc != 0 || e != "" {
				t.Fatalf("rc=%d err=%q", rc, e)
			}
		}
		if _, err := a.FS.ReadFile(`C:\Users\admin\f.txt`); err != nil {
			t.Fatalf("file not in the first shell's directory: %v", err)
		}
		if _, err := b.FS.ReadFile(`C:\Users\other\f.txt`); err != nil {
			t.Fatalf("file not in the second shell's directory (a tree parsed for another cwd?): %v", err)
		}

		noFS := testShell("")
		noFS.FS = nil
		if rc, _, _ := run(testShell(""), `type nul & echo ok`); rc != 0 {
			t.Fatalf("type nul with a file system: rc=%d", rc)
		}
		if rc, _, e := run(noFS, `type nul & echo ok`); rc != ExitNotRecognized || !strings.Contains(e, "without a simulated file system") {
			t.Fatalf("type nul without a file system: rc=%d err=%q", rc, e)
		}

		withWhoami := testShell("")
		withWhoami.Programs["whoami"] = func(_ context.Context, p *Proc) int { _, _ = p.Stdout.Write([]byte("lab\\admin\r\n")); return 0 }
		if rc, out, _ := run(withWhoami, `whoami`); rc != 0 || out != "lab\\admin\r\n" {
			t.Fatalf("whoami listed: rc=%d out=%q", rc, out)
		}
		if rc, _, e := run(testShell(""), `whoami`); rc != ExitNotRecognized || !strings.Contains(e, "whoami.exe") {
			t.Fatalf("whoami not listed: rc=%d err=%q", rc, e)
		}
	}
}
