// Package configs holds dcproxy's documented default configuration, embedded in the binary so that
// no file is required, and example files for admins.
package configs

import _ "embed"

// Default is configs/dcproxy.yaml: every key dcproxy knows, with its default value.
//
//go:embed dcproxy.yaml
var Default []byte
