//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd || illumos

package fleet

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
)

// The helper process of the tests below (it does nothing in a normal run): with
// DCPROXY_JOURNAL_HELPER=append it appends DCPROXY_JOURNAL_N records of writer DCPROXY_JOURNAL_W
// to DCPROXY_JOURNAL_PATH; with =hold it takes the journal's lock, says "locked" on stdout and
// keeps the lock until stdin closes.
func TestJournalHelperProcess(t *testing.T) {
	mode := os.Getenv("DCPROXY_JOURNAL_HELPER")
	if mode == "" {
		return
	}
	path := os.Getenv("DCPROXY_JOURNAL_PATH")
	switch mode {
	case "append":
		w, _ := strconv.Atoi(os.Getenv("DCPROXY_JOURNAL_W"))
		n, _ := strconv.Atoi(os.Getenv("DCPROXY_JOURNAL_N"))
		j, err := OpenJournal(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		for i := range n {
			// Records far larger than PIPE_BUF (4 KiB) and than one page, in several sizes.
			if err := j.Append(testRecord(w*1000+i, 2048+(i%7)*4096)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(4)
			}
		}
		_ = j.Close()
	case "hold":
		f, err := os.OpenFile(path, journalOpenFlags, 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		unlock, err := lockFile(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
		fmt.Println("locked")
		_, _ = io.Copy(io.Discard, os.Stdin)
		unlock()
	}
	os.Exit(0)
}

func helperCmd(t *testing.T, mode, path string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(exe, "-test.run=^TestJournalHelperProcess$", "-test.count=1")
	c.Env = append(os.Environ(), append([]string{"DCPROXY_JOURNAL_HELPER=" + mode, "DCPROXY_JOURNAL_PATH=" + path}, env...)...)
	c.Stderr = os.Stderr
	return c
}

// Two operators' dcproxy processes appending to one backup file in one directory (a shared
// backup file, fix.backup_file): every record of both is read back whole, each process's records in its own order.
func TestJournalTwoProcessesAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backups.jsonl")
	const per = 150
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for w := range 2 {
		c := helperCmd(t, "append", path, "DCPROXY_JOURNAL_W="+strconv.Itoa(w+1), "DCPROXY_JOURNAL_N="+strconv.Itoa(per))
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = c.Run()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("helper: %v", err)
	}
	recs, err := ReadBackups(path) // strict: any torn or interleaved line is an error naming it
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2*per {
		t.Fatalf("%d records, want %d", len(recs), 2*per)
	}
	next := map[int]int{1: 0, 2: 0}
	switches := 0
	for k, r := range recs {
		var i int
		if _, err := fmt.Sscanf(r.Host, "dc%d", &i); err != nil {
			t.Fatalf("record %d: host %q", k, r.Host)
		}
		w, n := i/1000, i%1000
		if n != next[w] {
			t.Fatalf("record %d: writer %d record %d, want %d", k, w, n, next[w])
		}
		if want := 2 * (2048 + (n%7)*4096); /* hex */ len(r.Previous) != want {
			t.Fatalf("record %d: previous value of %d hex digits, want %d", k, len(r.Previous), want)
		}
		next[w]++
		if k > 0 && recs[k-1].Host[:3] != r.Host[:3] {
			switches++
		}
	}
	t.Logf("%d records, the writers alternated %d times", len(recs), switches)
}

// The lock the journal takes is the one another process holds: while a second process holds it,
// taking it without waiting fails with EWOULDBLOCK; once it lets go, it succeeds.
func TestJournalLockExcludesOtherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backups.jsonl")
	j, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	c := helperCmd(t, "hold", path)
	stdin, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	f, err := os.OpenFile(path, journalOpenFlags, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Fatalf("lock while another process holds it: %v, want EWOULDBLOCK", err)
	}
	_ = stdin.Close()
	if err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("lock after the other process let go: %v", err)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if err := j.Append(testRecord(1, 8)); err != nil {
		t.Fatal(err)
	}
}
