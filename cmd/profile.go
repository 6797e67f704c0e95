package cmd

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfiles is a benchmarking hook: when DCPROXY_CPUPROFILE names a file, the whole run (any
// command, e.g. audit or lab) is CPU-profiled into it; when DCPROXY_MEMPROFILE names a file, a heap
// profile is written there at exit. The returned function stops and flushes the profiles. Problems
// are reported on stderr and never change the run's outcome.
func startProfiles(getenv func(string) string) func() {
	var stops []func()
	if path := getenv("DCPROXY_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
			if err != nil {
				_ = f.Close()
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "dcproxy: cpu profile: %v\n", err)
		} else {
			stops = append(stops, func() { pprof.StopCPUProfile(); _ = f.Close() })
		}
	}
	if path := getenv("DCPROXY_MEMPROFILE"); path != "" {
		stops = append(stops, func() {
			f, err := os.Create(path)
			if err != nil {
				fmt.Fprintf(os.Stderr, "dcproxy: heap profile: %v\n", err)
				return
			}
			runtime.GC()
			_ = pprof.WriteHeapProfile(f)
			_ = f.Close()
		})
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}
