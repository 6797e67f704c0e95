//go:build !unix

package sambatest

import (
	"os"
	"os/exec"
)

// Samba AD DCs run on Linux only; Available refuses elsewhere. These keep the package compiling.

func ownGroup(*exec.Cmd) {}

func terminate(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

func stopGroup(int) {}
