package dataplane

import (
	"encoding/binary"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
)

// logMessage is an NFULNL_MSG_PACKET of group 1 as the kernel builds it (nfulnl_build_packet):
// nfgenmsg, then big-endian attributes; ts is NFULA_TIMESTAMP's 16 bytes (nil: none).
func logMessage(t *testing.T, ts []byte) netlink.Message {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.Uint32(nfulaMark, 7)
	if ts != nil {
		ae.Bytes(nfulaTimestamp, ts)
	}
	ae.Uint32(nfulaInDev, 3)
	ae.Bytes(nfulaPayload, []byte{0x45, 0})
	ae.Bytes(nfulaPrefix, []byte("stk-sg\x00"))
	attrs, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(nfnlSubsysULOG<<8 | nfulnlMsgPacket)},
		Data: append(nfgenmsg(1), attrs...)}
}

func stamp(sec, usec uint64) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, sec)
	binary.BigEndian.PutUint64(b[8:], usec)
	return b
}

// TestDecodeLogTimestamp: a packet is windowed by its own NFLOG timestamp when the kernel
// sent a plausible one, by its arrival otherwise — so that a packet seen at 11:59:59.9 and
// handed over after the window closed at 12:00 stays in the 11:59 window.
func TestDecodeLogTimestamp(t *testing.T) {
	arrival := time.Date(2026, 12, 1, 12, 0, 0, 400_000_000, time.UTC)
	before := time.Date(2026, 12, 1, 11, 59, 59, 900_000_000, time.UTC)
	for _, tt := range []struct {
		name string
		ts   []byte
		want time.Time
	}{
		{"the packet's own time", stamp(uint64(before.Unix()), 900_000), before},
		{"no timestamp: arrival", nil, arrival},
		{"after the arrival (not the wall clock): arrival", stamp(uint64(arrival.Unix()+5), 0), arrival},
		{"older than the longest window: arrival", stamp(uint64(arrival.Unix()-601), 0), arrival},
		{"a monotonic clock's seconds: arrival", stamp(12345, 0), arrival},
		{"usec out of range: arrival", stamp(uint64(before.Unix()), 2_000_000), arrival},
		{"short attribute: arrival", stamp(uint64(before.Unix()), 0)[:8], arrival},
	} {
		got := decodeLog([]netlink.Message{logMessage(t, tt.ts)}, arrival)
		want := []LogPacket{{Group: 1, Prefix: "stk-sg", Mark: 7, InIf: 3, Payload: []byte{0x45, 0}, Time: tt.want}}
		if d := gocmp.Diff(want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, d)
		}
	}
	// Other messages (a config answer) are not packets.
	cfg := logMessage(t, nil)
	cfg.Header.Type = netlink.HeaderType(nfnlSubsysULOG<<8 | nfulnlMsgConfig)
	if got := decodeLog([]netlink.Message{cfg}, arrival); len(got) != 0 {
		t.Errorf("a config message decoded as %+v", got)
	}
}
