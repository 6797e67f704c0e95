package cmdexe

import (
	"context"
	"errors"
	"io"
	"strings"

	"github.com/dcproxy/dcproxy/remote/winsim/winfs"
)

// ErrFileNotFound is returned by RunDirect when path names no simulated program
// (Windows: ERROR_FILE_NOT_FOUND, WinRS fault code 2147942402).
var ErrFileNotFound = errors.New("the system cannot find the file specified")

// RunDirect runs one program without cmd.exe, as WinRS does for a command sent with
// WINRS_SKIP_CMD_SHELL=TRUE: path is used as given (no PATH search: a bare "powershell.exe" is looked
// for in the working directory only), args are joined with blanks into the program's argument tail,
// and nothing of cmd.exe applies (no %VAR% expansion, no &, no redirection). It returns
// ErrFileNotFound when path does not resolve to a simulated program; the caller reports it as the
// fault Windows sends before any command exists.
func (s *Shell) RunDirect(ctx context.Context, path string, args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	prog, err := s.resolve(ctx, path)
	if err != nil {
		return 0, err
	}
	argLine := strings.Join(args, " ")
	rc := prog(ctx, &Proc{Name: path, Args: SplitArgs(argLine), ArgLine: argLine, Stdin: stdin, Stdout: stdout, Stderr: stderr})
	if ctx.Err() != nil {
		return ExitCanceled, nil
	}
	return rc, nil
}

// Resolve reports whether RunDirect would find path (nil) or not (ErrFileNotFound), without running it.
func (s *Shell) Resolve(path string) error {
	_, err := s.resolve(context.Background(), path)
	return err
}

func (s *Shell) resolve(ctx context.Context, path string) (Program, error) {
	st := &runState{sh: s, ctx: ctx, env: map[string]string{}}
	for k, v := range s.Env {
		st.env[strings.ToUpper(k)] = v
	}
	st.cwd = s.Cwd
	if c, err := winfs.Clean(st.cwd); err == nil {
		st.cwd = c
	} else {
		st.cwd = st.systemRoot() + `\System32`
	}
	name := strings.Trim(strings.TrimSpace(path), `"`)
	if name == "" {
		return nil, ErrFileNotFound
	}
	if !strings.ContainsAny(name, `\/`) && !(len(name) >= 2 && name[1] == ':') {
		// CreateProcess with an application name: the current directory only. unverified: that
		// WinRS uses the shell's working directory here (the capture only shows the profile case).
		name = `.\` + name
	}
	prog, status := s.lookup(name, st)
	if status != found {
		return nil, ErrFileNotFound
	}
	return prog, nil
}
