package pwsh

import (
	"os"
	"testing"

	"github.com/dcproxy/dcproxy/internal/bufpool"
)

// TestMain poisons pooled buffers for every test of the package: a script read from stdin is
// overwritten when its buffer goes back to bufpool, so a use after that fails the test instead of
// passing until the buffer is reused.
func TestMain(m *testing.M) {
	bufpool.SetPoison(true)
	os.Exit(m.Run())
}
