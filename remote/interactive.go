package remote

import (
	"context"
	"errors"
)

// Interactive is implemented by Runners that can feed a running command's stdin with what the
// command printed so far: one command line whose first part prints something the client must read
// before it can decide what the second part (a program reading stdin) gets.
//
// RunInteractive starts commandLine like Run and reads its output until ready(sofar) reports true
// for the output received so far. It then calls stdin(sofar) once and sends what it returns as the
// command's whole standard input, followed by end of input (an empty result sends only the end),
// and reads on until the command is done. ready is called after each piece of output, never
// concurrently, with output that only grows; neither callback may keep sofar's slices.
//
// If the command is done before ready reports true, stdin is not called and the output is returned
// as it is (the program that would have read stdin did not start or did not wait). If stdin returns
// ErrNoInput, RunInteractive returns the output so far and no error at once: nothing is sent, and
// the command, still running, is terminated as a finished one would be (before the next command of
// the Runner, or with the shell by Close). If stdin returns another error, the command is terminated
// and that error is returned unwrapped with the output so far.
// Transport failures and the end of ctx (the command is terminated then too) are reported as Run
// reports them, with the output received so far. The returned Output holds everything the command
// printed, before and after the input. RunInteractive keeps no reference to the slice stdin
// returned once it has returned (the caller may reuse it).
type Interactive interface {
	RunInteractive(ctx context.Context, commandLine string, ready func(sofar Output) bool,
		stdin func(sofar Output) ([]byte, error)) (Output, error)
}

// ErrNoInput is returned by an Interactive stdin callback that has nothing to send and no further
// use for the command (see Interactive).
var ErrNoInput = errors.New("no input for the command")
