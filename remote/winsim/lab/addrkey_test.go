package lab

import (
	"net"
	"testing"
)

type strAddr string

func (a strAddr) Network() string { return "tcp" }
func (a strAddr) String() string  { return string(a) }

// TestAddrKey: a listener's address and a connection's local address give the same key whether
// the IPv4 address is held in 4 or 16 bytes, and other net.Addr kinds by their text.
func TestAddrKey(t *testing.T) {
	a := addrKey(&net.TCPAddr{IP: net.IPv4(127, 1, 0, 7).To4(), Port: 5985})
	b := addrKey(&net.TCPAddr{IP: net.IPv4(127, 1, 0, 7), Port: 5985})
	c := addrKey(strAddr("127.1.0.7:5985"))
	if a != b || a != c || a.String() != "127.1.0.7:5985" {
		t.Fatalf("keys %v %v %v", a, b, c)
	}
	if addrKey(&net.TCPAddr{IP: net.IPv4(127, 1, 0, 7), Port: 5986}) == a || addrKey(&net.TCPAddr{IP: net.IPv4(127, 1, 0, 8), Port: 5985}) == a {
		t.Fatal("different addresses share a key")
	}
}
