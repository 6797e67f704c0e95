//go:build linux || darwin || freebsd || netbsd || openbsd

package winrmclient

import (
	"crypto/tls"
	"net"
	"syscall"
)

// peekSocket looks, without waiting, at an idle connection's socket: usable when nothing can be
// read yet (EAGAIN); not usable when the host closed it (end of stream), reset it, or sent bytes
// nobody asked for (over TLS also a close_notify alert). known is false when conn has no socket.
// One recv(MSG_PEEK|MSG_DONTWAIT): nothing is consumed.
func peekSocket(conn net.Conn) (usable, known bool) {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, false
	}
	var buf [1]byte
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		_, _, rerr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	}); err != nil {
		return false, true
	}
	return rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK, true
}
