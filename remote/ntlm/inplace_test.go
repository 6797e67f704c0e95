package ntlm

import (
	"bytes"
	"errors"
	"testing"
)

// TestInPlaceMatchesCopying: SealInPlace/OpenInPlace produce the same frames, plaintexts and
// sequence state as Seal/Open, for messages of several sizes in both directions, with and without
// SEAL and KEY_EXCH, and a tampered frame fails the same way in both.
func TestInPlaceMatchesCopying(t *testing.T) {
	key := bytes.Repeat([]byte{0x5a}, 16)
	for _, flags := range []uint32{
		FlagExtendedSessionSecurity | FlagSeal | FlagSign | Flag128 | FlagKeyExch,
		FlagExtendedSessionSecurity | FlagSeal | FlagSign | Flag128,
		FlagExtendedSessionSecurity | FlagSign | FlagKeyExch,
	} {
		mk := func() (cli, srv *Session) {
			cli, err := NewSession(ClientSide, key, flags)
			if err != nil {
				t.Fatal(err)
			}
			srv, err = NewSession(ServerSide, key, flags)
			if err != nil {
				t.Fatal(err)
			}
			return cli, srv
		}
		c1, s1 := mk()
		c2, s2 := mk()
		for i, n := range []int{0, 1, 16, 5500, 3} {
			msg := bytes.Repeat([]byte{byte(i + 1), 0x42}, n)[:n]
			for _, dir := range []struct{ a1, b1, a2, b2 *Session }{{c1, s1, c2, s2}, {s1, c1, s2, c2}} {
				f1 := Seal(dir.a1, msg)
				inplace := append([]byte(nil), msg...)
				f2 := SealInPlace(dir.a2, inplace)
				if !bytes.Equal(f1, f2) {
					t.Fatalf("flags %#x, %d bytes: SealInPlace frame differs from Seal", flags, n)
				}
				p1, err1 := Open(dir.b1, f1)
				p2, err2 := OpenInPlace(dir.b2, f2)
				if err1 != nil || err2 != nil || !bytes.Equal(p1, msg) || !bytes.Equal(p2, msg) {
					t.Fatalf("flags %#x, %d bytes: Open %v, OpenInPlace %v", flags, n, err1, err2)
				}
			}
		}
		// A tampered frame: both fail with ErrBadSignature (and the contexts are spent alike).
		f1, f2 := Seal(c1, []byte("hello")), SealInPlace(c2, []byte("hello"))
		for _, f := range [][]byte{f1, f2} {
			_, sealed, err := Unframe(f)
			if err != nil {
				t.Fatal(err)
			}
			sealed[0] ^= 1 // aliases f
		}
		_, err1 := Open(s1, f1)
		_, err2 := OpenInPlace(s2, f2)
		if !errors.Is(err1, ErrBadSignature) || !errors.Is(err2, ErrBadSignature) {
			t.Fatalf("flags %#x: tampered frame: Open %v, OpenInPlace %v", flags, err1, err2)
		}
	}
}

// BenchmarkSealOpenInPlace is BenchmarkSealOpen with the in-place variants the simulator uses.
func BenchmarkSealOpenInPlace(b *testing.B) {
	key := bytes.Repeat([]byte{7}, 16)
	flags := uint32(FlagExtendedSessionSecurity | FlagSeal | FlagSign | Flag128 | FlagKeyExch)
	cli, _ := NewSession(ClientSide, key, flags)
	srv, _ := NewSession(ServerSide, key, flags)
	req, resp := bytes.Repeat([]byte("<s:Envelope>x</s:Envelope>"), 212), bytes.Repeat([]byte("<rsp:Stream/>"), 160)
	buf := make([]byte, len(req))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, req)
		plain, err := OpenInPlace(srv, SealInPlace(cli, buf))
		if err != nil || len(plain) != len(req) {
			b.Fatal(err)
		}
		if _, err := OpenInPlace(cli, SealInPlace(srv, append(buf[:0], resp...))); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSealToMatchesSeal: SealTo writes Seal's frame whatever the buffer it gets holds (garbage
// with room to spare, too little room, nil), message after message, and the frame opens.
func TestSealToMatchesSeal(t *testing.T) {
	key := bytes.Repeat([]byte{0x33}, 16)
	flags := uint32(FlagExtendedSessionSecurity | FlagSeal | FlagSign | Flag128 | FlagKeyExch)
	mk := func(side Side) *Session {
		s, err := NewSession(side, key, flags)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ref, srv := mk(ClientSide), mk(ServerSide)
	dsts := map[string][]byte{"garbage": bytes.Repeat([]byte{0xee}, 9000), "small": make([]byte, 3, 10), "nil": nil}
	to := map[string]*Session{}
	for name := range dsts {
		to[name] = mk(ClientSide)
	}
	for i, n := range []int{0, 1, 5500, 16, 8000} {
		msg := bytes.Repeat([]byte{byte(i + 1), 0x42}, n)[:n]
		want := Seal(ref, msg)
		for name, dst := range dsts {
			if got := SealTo(dst, to[name], msg); !bytes.Equal(got, want) {
				t.Fatalf("%d bytes into %s buffer: SealTo frame differs from Seal", n, name)
			}
		}
		if plain, err := Open(srv, want); err != nil || !bytes.Equal(plain, msg) {
			t.Fatalf("%d bytes: Open: %v", n, err)
		}
	}
}
