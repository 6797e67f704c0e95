package winsim

import (
	"testing"

	"github.com/dcproxy/dcproxy/internal/bufpool"
)

// TestMain runs the package's tests with pooled buffers poisoned (bufpool.TestMain).
func TestMain(m *testing.M) { bufpool.TestMain(m) }
