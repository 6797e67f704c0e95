//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package winrmclient

import "net"

// peekSocket cannot look at a socket without waiting here (on Windows Go drives sockets with
// overlapped I/O; a plain recv could block): idle connections are checked with a short timed read
// instead (hostConn.usable).
func peekSocket(net.Conn) (usable, known bool) { return false, false }
