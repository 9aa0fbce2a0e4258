// Package frame is the record framing of Stockade's append-only files, the change trail's log
// and the store's write-ahead log: each record is u32 length ‖ u32 CRC-32C of the payload ‖
// payload, little-endian. The length and checksum let a reader find where a torn append (a
// crash in the middle of a write) begins, and tell it from the records before it, which were
// written whole.
package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
)

// Header is the bytes a frame adds before its payload.
const Header = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrDamaged is wrapped by Read's errors for a frame that is short or fails its checksum.
var ErrDamaged = errors.New("damaged frame")

// Start appends room for a frame's header to buf; the caller appends the payload and then
// calls Seal with the returned start.
func Start(buf []byte) (_ []byte, start int) {
	return append(buf, make([]byte, Header)...), len(buf)
}

// Seal writes the header of the frame started at start: the length and checksum of everything
// appended to buf since. It fails, leaving buf to be cut back by the caller, when the payload
// is over max bytes.
func Seal(buf []byte, start, max int) error {
	n := len(buf) - start - Header
	if n > max {
		return fmt.Errorf("a record of %d bytes exceeds %d", n, max)
	}
	binary.LittleEndian.PutUint32(buf[start:], uint32(n))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+Header:], castagnoli))
	return nil
}

// Check verifies one whole frame b (header and payload, read from where an index said it is)
// and returns its payload.
func Check(b []byte) ([]byte, error) {
	if len(b) < Header || int(binary.LittleEndian.Uint32(b)) != len(b)-Header {
		return nil, fmt.Errorf("%w: length", ErrDamaged)
	}
	if crc32.Checksum(b[Header:], castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, fmt.Errorf("%w: checksum", ErrDamaged)
	}
	return b[Header:], nil
}

// Read reads the next frame from r and returns its payload, in payload's storage when it is
// large enough. It returns io.EOF at a clean end, and an error wrapping ErrDamaged for a short
// header or payload, a length over max, or a checksum that does not match.
func Read(r io.Reader, payload []byte, max int) ([]byte, error) {
	var hdr [Header]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("%w: short header", ErrDamaged)
	}
	n, sum := binary.LittleEndian.Uint32(hdr[:4]), binary.LittleEndian.Uint32(hdr[4:])
	if int64(n) > int64(max) {
		return nil, fmt.Errorf("%w: length out of range", ErrDamaged)
	}
	payload = slices.Grow(payload[:0], int(n))[:n]
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, fmt.Errorf("%w: short payload", ErrDamaged)
	}
	if crc32.Checksum(payload, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum", ErrDamaged)
	}
	return payload, nil
}

// SyncDir fsyncs the directory dir, which makes the files created in it (or removed) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
