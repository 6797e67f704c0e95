package fleet

import (
	"testing"

	"github.com/dcproxy/dcproxy/internal/bufpool"
)

// TestMain runs the package's tests with pooled buffers poisoned (bufpool.TestMain) (the audits run the client and the simulator in-process).
func TestMain(m *testing.M) { bufpool.TestMain(m) }
