package report

// appendIndented appends src, compact JSON as encoding/json's Encoder writes it (no white space
// outside strings), to dst indented as json.Indent(dst, src, prefix, "  ") indents it: each
// element of an object or array on its own line after prefix and two spaces per level, ": "
// between key and value, empty objects and arrays kept as {} and []. It does not validate src.
//
// json.Indent re-scans its input with encoding/json's validating state machine, which made the
// indentation as costly as the encoding itself in a 10,000-host report; this copies strings in
// runs and only tracks the nesting (indent_test.go keeps it equal to json.Indent).
func appendIndented(dst, src []byte, prefix string) []byte {
	depth := 0
	open := false // just after '{' or '[': the next byte starts the first element or closes it
	for i := 0; i < len(src); i++ {
		c := src[i]
		if open && c != '}' && c != ']' {
			open = false
			depth++
			dst = appendNewline(dst, prefix, depth)
		}
		switch c {
		case '"':
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j, len(src)-1)
			dst = append(dst, src[i:j+1]...)
			i = j
		case '{', '[':
			dst = append(dst, c)
			open = true
		case ',':
			dst = append(dst, ',')
			dst = appendNewline(dst, prefix, depth)
		case ':':
			dst = append(dst, ':', ' ')
		case '}', ']':
			if open {
				open = false
			} else {
				depth--
				dst = appendNewline(dst, prefix, depth)
			}
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// appendNewline appends a line break, prefix and depth indentation steps of two spaces.
func appendNewline(dst []byte, prefix string, depth int) []byte {
	dst = append(dst, '\n')
	dst = append(dst, prefix...)
	for range depth {
		dst = append(dst, "  "...)
	}
	return dst
}
