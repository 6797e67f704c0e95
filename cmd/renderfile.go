package cmd

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// renderFileAtomic writes a report atomically: render writes straight into a temporary file
// in name's directory (through a buffered writer), which is synced and renamed over name only when
// render and every write succeeded. Unlike rendering into memory first, it holds no copy of the
// report: a 10,000-host JSON report is ~60 MB (see BENCHMARKS.md). On error name is untouched.
func renderFileAtomic(name string, mode os.FileMode, render func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 256<<10)
	if err = render(bw); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("render report: %w", err)
	}
	if err = bw.Flush(); err == nil {
		if err = tmp.Chmod(mode); err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
