package fleet

import (
	"os"
	"testing"

	"github.com/dcproxy/dcproxy/internal/bufpool"
)

// TestMain poisons pooled buffers for every test of the package (the audits run the client and
// the simulator in-process): a buffer used after it went back to bufpool fails a test instead of
// passing until it happens to be reused.
func TestMain(m *testing.M) {
	bufpool.SetPoison(true)
	os.Exit(m.Run())
}
