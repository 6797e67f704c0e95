package winrmclient

import (
	"os"
	"testing"

	"github.com/dcproxy/dcproxy/internal/bufpool"
)

// TestMain poisons pooled buffers for every test of the package: request and reply buffers are
// overwritten when they go back to bufpool, so any use of a reply after its exchange handed it
// back fails the test that relies on it instead of passing until the buffer happens to be reused.
func TestMain(m *testing.M) {
	bufpool.SetPoison(true)
	os.Exit(m.Run())
}
