//go:build unix

package sambatest

import (
	"os/exec"
	"syscall"
)

// ownGroup makes cmd the leader of a new process group (smbd and winbindd, which samba starts,
// join it), so that stopGroup can reach all of them.
func ownGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// terminate asks the process to stop (SIGTERM).
func terminate(pid int) { _ = syscall.Kill(pid, syscall.SIGTERM) }

// stopGroup kills the process group led by pid (SIGKILL).
func stopGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }
