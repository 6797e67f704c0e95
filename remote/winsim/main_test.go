package winsim_test

import (
	"os"
	"testing"

	"github.com/dcproxy/dcproxy/internal/bufpool"
)

// TestMain poisons pooled buffers for every test of the package: request bodies, recorded
// responses and sealed frames are overwritten when they go back to bufpool, so a handler that used
// one after its request was answered would fail the test instead of passing until reuse.
func TestMain(m *testing.M) {
	bufpool.SetPoison(true)
	os.Exit(m.Run())
}
