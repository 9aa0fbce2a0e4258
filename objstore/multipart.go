package objstore

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"strconv"
	"strings"

	"github.com/stockade/stockade/model"
)

// Multipart uploads (what `aws s3 cp` does for a file over its 8 MiB threshold): an upload
// is created for a key, its parts are uploaded in any order (each replacing an earlier part
// of its number), and completing it with the list of parts to keep makes them one object, in
// one atomic write as PutObject's; aborting it discards the parts.
//
// Parts live in <bucket>/.uploads/<upload ID>/<part number> (the names are ours, never a
// key's: keys are encoded without a leading "."). The uploads themselves are kept in memory
// only: an upload in progress does not survive a restart, whose Open deletes the parts left
// behind [ours: S3 keeps them until completed, aborted or expired by a lifecycle rule]. A
// client that resumes one gets NoSuchUpload and starts over.
//
// Tenants are untrusted: an account has at most Limits.MaxUploads uploads in progress, the
// parts of each count against its MaxAccountBytes as objects do, and an upload whose parts
// would make an object over MaxObjectBytes is refused at the part that crosses it.

const (
	uploadsDir = ".uploads"
	// MinPartBytes is S3's smallest part but the last (5 MiB).
	MinPartBytes = 5 << 20
	// MaxParts is S3's highest part number.
	MaxParts = 10000
)

type upload struct {
	id, bucket, key, contentType string
	parts                        map[int]part
	bytes                        int64 // the parts' sizes
}

type part struct {
	size int64
	md5  [md5.Size]byte
}

// ETag is a part's ETag as S3 sends it: its MD5, quoted.
func (p part) etag() string { return `"` + hex.EncodeToString(p.md5[:]) + `"` }

// CompletedPart is one entry of CompleteMultipartUpload's list.
type CompletedPart struct {
	Number int
	ETag   string // quoted or not, as clients send it
}

// CreateUpload starts a multipart upload of key in account's bucket and returns its ID.
func (s *Store) CreateUpload(account, bucketName, key, contentType string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if contentType == "" {
		contentType = "binary/octet-stream"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.lookup(account, bucketName)
	if err != nil {
		return "", err
	}
	n := 0
	for _, u := range s.uploads {
		if s.buckets[u.bucket].Owner == account {
			n++
		}
	}
	if n >= s.lim.MaxUploads {
		return "", model.S3QuotaExceeded.Errorf("The account has %d multipart uploads in progress, the most Stockade keeps for one account: complete or abort one.", s.lim.MaxUploads)
	}
	var rnd [24]byte
	rand.Read(rnd[:])
	id := hex.EncodeToString(rnd[:])
	if err := b.root.MkdirAll(uploadsDir+"/"+id, 0o700); err != nil {
		return "", model.Internal(err)
	}
	s.uploads[id] = &upload{id: id, bucket: bucketName, key: key, contentType: contentType, parts: map[int]part{}}
	return id, nil
}

// findUpload is the upload id of key in account's bucket, with s.mu held: NoSuchUpload for
// an ID that is not one, or not of this bucket and key (S3 ties an upload to both).
func (s *Store) findUpload(account, bucketName, key, id string) (*bucket, *upload, error) {
	b, err := s.lookup(account, bucketName)
	if err != nil {
		return nil, nil, err
	}
	u, ok := s.uploads[id]
	if !ok || u.bucket != bucketName || u.key != key {
		return nil, nil, model.NoSuchUpload.New()
	}
	return b, u, nil
}

// checkPartNumber reads a part number as S3 allows it: 1 to 10,000.
func checkPartNumber(n int) error {
	if n < 1 || n > MaxParts {
		return model.S3InvalidArgument.Errorf("Part number must be an integer between 1 and 10000, inclusive")
	}
	return nil
}

// ParsePartNumber reads the partNumber query parameter.
func ParsePartNumber(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, checkPartNumber(0)
	}
	return n, checkPartNumber(n)
}

// PutPart stores part n of upload id, replacing an earlier part n, and returns its ETag.
func (s *Store) PutPart(account, bucketName, key, id string, n int, data []byte) (string, error) {
	if err := checkPartNumber(n); err != nil {
		return "", err
	}
	p := part{size: int64(len(data)), md5: md5.Sum(data)}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, u, err := s.findUpload(account, bucketName, key, id)
	if err != nil {
		return "", err
	}
	old := u.parts[n].size
	if u.bytes-old+p.size > s.lim.MaxObjectBytes {
		return "", model.EntityTooLarge.New()
	}
	if s.used[account]-old+p.size > s.lim.MaxAccountBytes {
		return "", model.S3QuotaExceeded.Errorf("The account's objects and upload parts would exceed %d bytes, the most Stockade keeps for one account.", s.lim.MaxAccountBytes)
	}
	if err := writeAtomic(b.root, partName(id, n), data); err != nil {
		return "", model.Internal(err)
	}
	u.parts[n] = p
	u.bytes += p.size - old
	s.used[account] += p.size - old
	return p.etag(), nil
}

func partName(id string, n int) string { return uploadsDir + "/" + id + "/" + strconv.Itoa(n) }

// CompleteUpload makes the listed parts, in order, key's object, and ends the upload; the
// parts it does not list are discarded, as on S3. The list must be in ascending part order
// (InvalidPartOrder), name parts uploaded with their ETags (InvalidPart), and every part but
// the last must be at least MinPartBytes (EntityTooSmall), checked in that order
// [UNCONFIRMED: the order in which S3 checks]; on any error nothing changes and
// the upload stays. The object's ETag is S3's for a multipart upload: the MD5 of the parts'
// MD5s, then "-" and the number of parts.
func (s *Store) CompleteUpload(account, bucketName, key, id string, list []CompletedPart) (Object, error) {
	if len(list) == 0 {
		return Object{}, model.MalformedXML.New()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, u, err := s.findUpload(account, bucketName, key, id)
	if err != nil {
		return Object{}, err
	}
	for i, c := range list {
		if i > 0 && c.Number <= list[i-1].Number {
			return Object{}, model.InvalidPartOrder.New()
		}
	}
	for _, c := range list {
		p, ok := u.parts[c.Number]
		if !ok || strings.Trim(c.ETag, `"`) != strings.Trim(p.etag(), `"`) {
			return Object{}, model.InvalidPart.New()
		}
	}
	var size int64
	sums := make([]byte, 0, len(list)*md5.Size)
	for i, c := range list {
		p := u.parts[c.Number]
		if i < len(list)-1 && p.size < MinPartBytes {
			return Object{}, model.EntityTooSmall.New()
		}
		size += p.size
		sums = append(sums, p.md5[:]...)
	}
	data := make([]byte, 0, size) // at most MaxObjectBytes (PutPart), as a PutObject's body
	for _, c := range list {
		raw, err := b.root.ReadFile(partName(id, c.Number))
		if err != nil {
			return Object{}, model.Internal(err)
		}
		data = append(data, raw...)
	}
	sum := md5.Sum(sums)
	obj := Object{Key: key, Size: size, ETag: `"` + hex.EncodeToString(sum[:]) + "-" + strconv.Itoa(len(list)) + `"`, ContentType: u.contentType}
	if obj, err = s.write(b, obj, data, u.bytes); err != nil {
		return Object{}, err
	}
	delete(s.uploads, id)
	b.root.RemoveAll(uploadsDir + "/" + id)
	return obj, nil
}

// AbortUpload ends upload id and deletes its parts.
func (s *Store) AbortUpload(account, bucketName, key, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, u, err := s.findUpload(account, bucketName, key, id)
	if err != nil {
		return err
	}
	if err := b.root.RemoveAll(uploadsDir + "/" + id); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return model.Internal(err)
	}
	delete(s.uploads, id)
	s.used[account] -= u.bytes
	return nil
}

// dropUploads forgets b's uploads and gives their bytes back, with s.mu held (the bucket is
// being deleted with its directory).
func (s *Store) dropUploads(b *bucket) {
	for id, u := range s.uploads {
		if u.bucket == b.Name {
			s.used[b.Owner] -= u.bytes
			delete(s.uploads, id)
		}
	}
}
