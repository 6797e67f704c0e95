//go:build !unix

package cmd

func raiseFileLimit() error { return nil }
