package objstore

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stockade/stockade/internal/atomicfile"

	"github.com/stockade/stockade/model"
)

// Limits bound what one account may keep; tenants are untrusted.
type Limits struct {
	MaxObjectBytes      int64 // per object, however it was uploaded (in one PUT or in parts)
	MaxAccountBytes     int64 // all objects of all of an account's buckets
	MaxBuckets          int   // per account (S3's default quota is 10,000; Stockade keeps fewer)
	MaxObjectsPerBucket int
	// MaxUploads bounds an account's multipart uploads in progress (S3 has no such bound);
	// their parts count against MaxAccountBytes, and each against MaxObjectBytes as a whole.
	MaxUploads int
}

// DefaultLimits: 8 MiB per object (the AWS CLI's multipart threshold, so every single-part
// upload of the CLI fits), 256 MiB and 100 buckets per account, 100,000 objects per bucket,
// 100 multipart uploads in progress per account.
func DefaultLimits() Limits {
	return Limits{MaxObjectBytes: 8 << 20, MaxAccountBytes: 256 << 20, MaxBuckets: 100, MaxObjectsPerBucket: 100_000, MaxUploads: 100}
}

// Bucket is one bucket's record.
type Bucket struct {
	Name    string    `json:"name"`
	Owner   string    `json:"owner"` // account ID
	Region  string    `json:"region"`
	Created time.Time `json:"created"`
}

// Object is one object's metadata.
type Object struct {
	Key         string    `json:"-"`
	Size        int64     `json:"size"`
	ETag        string    `json:"etag"` // quoted hex MD5, as S3 sends it for a single-part upload
	ContentType string    `json:"contentType"`
	Modified    time.Time `json:"-"`
}

const (
	bucketFile = ".bucket"
	metaDir    = ".meta"
	tmpPrefix  = ".tmp-"
)

// Store is every account's buckets under one directory. It is safe for concurrent use.
type Store struct {
	dir string
	lim Limits

	mu      sync.Mutex // guards everything below and serializes writes
	buckets map[string]*bucket
	used    map[string]int64   // bytes per account, of objects and of uploads' parts
	uploads map[string]*upload // multipart uploads in progress, by upload ID (multipart.go)
}

type bucket struct {
	Bucket
	root    *os.Root
	objects int
}

// Open opens (creating) the store in dir and reads its buckets.
func Open(dir string, lim Limits) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("objstore: %w", err)
	}
	s := &Store{dir: dir, lim: lim, buckets: map[string]*bucket{}, used: map[string]int64{}, uploads: map[string]*upload{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("objstore: %w", err)
	}
	for _, e := range ents {
		if !e.IsDir() || !ValidBucketName(e.Name()) {
			continue
		}
		b, err := s.load(e.Name())
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("objstore: bucket %s: %w", e.Name(), err)
		}
		if b != nil {
			s.buckets[b.Name] = b
		}
	}
	return s, nil
}

// load reads a bucket's record and counts its objects; nil for a directory without a record
// (a CreateBucket that crashed before its record was written).
func (s *Store) load(name string) (*bucket, error) {
	root, err := os.OpenRoot(s.dir + "/" + name)
	if err != nil {
		return nil, err
	}
	raw, err := root.ReadFile(bucketFile)
	if errors.Is(err, fs.ErrNotExist) {
		root.Close()
		return nil, nil
	}
	b := &bucket{root: root}
	if err == nil {
		err = json.Unmarshal(raw, &b.Bucket)
	}
	if err != nil {
		root.Close()
		return nil, err
	}
	ents, err := fs.ReadDir(root.FS(), ".")
	if err != nil {
		root.Close()
		return nil, err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			root.Remove(e.Name()) // an upload a crash interrupted
			continue
		}
		if e.Name() == uploadsDir {
			root.RemoveAll(uploadsDir) // multipart uploads live as long as the process (multipart.go)
			continue
		}
		if _, ok := DecodeKey(e.Name()); ok && e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil {
				b.objects++
				s.used[b.Owner] += fi.Size()
			}
		}
	}
	return b, nil
}

// Close releases the buckets' directories.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.buckets {
		b.root.Close()
	}
	s.buckets = nil
	return nil
}

// CreateBucket creates name for account in region.
func (s *Store) CreateBucket(account, region, name string) error {
	if !ValidBucketName(name) {
		return model.InvalidBucketName.New()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.buckets[name]; ok {
		if b.Owner == account {
			return model.BucketAlreadyOwnedByYou.New()
		}
		return model.BucketAlreadyExists.New()
	}
	n := 0
	for _, b := range s.buckets {
		if b.Owner == account {
			n++
		}
	}
	if n >= s.lim.MaxBuckets {
		return model.TooManyBuckets.New()
	}
	dir := s.dir + "/" + name
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return model.Internal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return model.Internal(err)
	}
	b := &bucket{Bucket: Bucket{Name: name, Owner: account, Region: region, Created: time.Now().UTC().Truncate(time.Second)}, root: root}
	raw, _ := json.Marshal(b.Bucket)
	if err := writeAtomic(root, bucketFile, raw); err != nil {
		root.Close()
		return model.Internal(err)
	}
	s.buckets[name] = b
	return nil
}

// lookup is account's bucket: NoSuchBucket when there is none, AccessDenied when another
// account owns it (as S3 answers a caller without permission on someone else's bucket).
func (s *Store) lookup(account, name string) (*bucket, error) {
	b, ok := s.buckets[name]
	switch {
	case !ok:
		return nil, model.NoSuchBucket.New()
	case b.Owner != account:
		return nil, model.S3AccessDenied.New()
	}
	return b, nil
}

// Bucket returns account's bucket name (HeadBucket; CreateFlowLogs' destination check).
func (s *Store) Bucket(account, name string) (Bucket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.lookup(account, name)
	if err != nil {
		return Bucket{}, err
	}
	return b.Bucket, nil
}

// Buckets lists account's buckets by name.
func (s *Store) Buckets(account string) []Bucket {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Bucket
	for _, b := range s.buckets {
		if b.Owner == account {
			out = append(out, b.Bucket)
		}
	}
	slices.SortFunc(out, func(a, b Bucket) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// DeleteBucket deletes an empty bucket.
func (s *Store) DeleteBucket(account, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.lookup(account, name)
	if err != nil {
		return err
	}
	if b.objects > 0 {
		return model.BucketNotEmpty.New()
	}
	// The record goes first: a crash after it leaves a directory Open ignores.
	if err := b.root.Remove(bucketFile); err != nil {
		return model.Internal(err)
	}
	b.root.Close()
	delete(s.buckets, name)
	s.dropUploads(b) // their parts go with the directory
	if err := os.RemoveAll(s.dir + "/" + name); err != nil {
		return model.Internal(err)
	}
	return nil
}

func checkKey(key string) error {
	switch {
	case key == "":
		return model.S3InvalidArgument.Errorf("The key must not be empty.") // [UNCONFIRMED] wording
	case len(key) > MaxKeyLen:
		return model.KeyTooLongError.New()
	}
	return nil
}

// Put stores data as key in account's bucket, replacing any object of that key.
func (s *Store) Put(account, bucketName, key, contentType string, data []byte) (Object, error) {
	if err := checkKey(key); err != nil {
		return Object{}, err
	}
	if int64(len(data)) > s.lim.MaxObjectBytes {
		return Object{}, model.EntityTooLarge.New()
	}
	if contentType == "" {
		contentType = "binary/octet-stream" // S3's default [UNCONFIRMED]
	}
	sum := md5.Sum(data)
	obj := Object{Key: key, Size: int64(len(data)), ETag: `"` + hex.EncodeToString(sum[:]) + `"`, ContentType: contentType}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.lookup(account, bucketName)
	if err != nil {
		return Object{}, err
	}
	return s.write(b, obj, data, 0)
}

// write stores data as obj in b, replacing any object of its key, with s.mu held: the
// bucket's object count and the owner's bytes are checked first, counting freed bytes
// (those of the upload whose parts become the object) as given back.
func (s *Store) write(b *bucket, obj Object, data []byte, freed int64) (Object, error) {
	account := b.Owner
	name := EncodeKey(obj.Key)
	var old int64 = -1
	if fi, err := b.root.Stat(name); err == nil {
		old = fi.Size()
	}
	if old < 0 && b.objects >= s.lim.MaxObjectsPerBucket {
		return Object{}, model.S3QuotaExceeded.Errorf("The bucket holds %d objects, the most Stockade keeps in one bucket.", s.lim.MaxObjectsPerBucket)
	}
	if s.used[account]-freed-max(old, 0)+obj.Size > s.lim.MaxAccountBytes {
		return Object{}, model.S3QuotaExceeded.Errorf("The account's objects would exceed %d bytes, the most Stockade keeps for one account.", s.lim.MaxAccountBytes)
	}
	meta, _ := json.Marshal(obj)
	if err := b.root.MkdirAll(metaDir, 0o700); err != nil {
		return Object{}, model.Internal(err)
	}
	if err := writeAtomic(b.root, metaDir+"/"+name, meta); err != nil {
		return Object{}, model.Internal(err)
	}
	if err := writeAtomic(b.root, name, data); err != nil {
		return Object{}, model.Internal(err)
	}
	if old < 0 {
		b.objects++
	}
	s.used[account] += obj.Size - max(old, 0) - freed
	obj.Modified = time.Now().UTC()
	if fi, err := b.root.Stat(name); err == nil {
		obj.Modified = fi.ModTime().UTC()
	}
	return obj, nil
}

// Get opens key for reading; the caller closes the file.
func (s *Store) Get(account, bucketName, key string) (*os.File, Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.lookup(account, bucketName)
	if err != nil {
		return nil, Object{}, err
	}
	if checkKey(key) != nil {
		return nil, Object{}, model.NoSuchKey.New()
	}
	f, err := b.root.Open(EncodeKey(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Object{}, model.NoSuchKey.New()
	}
	if err != nil {
		return nil, Object{}, model.Internal(err)
	}
	obj, err := b.stat(key, f)
	if err != nil {
		f.Close()
		return nil, Object{}, err
	}
	return f, obj, nil
}

// Head is key's metadata.
func (s *Store) Head(account, bucketName, key string) (Object, error) {
	f, obj, err := s.Get(account, bucketName, key)
	if err == nil {
		f.Close()
	}
	return obj, err
}

// stat is the metadata of the object open in f: its metadata file's, or, when that does not
// describe these bytes (a crash between the two renames), recomputed.
func (b *bucket) stat(key string, f *os.File) (Object, error) {
	fi, err := f.Stat()
	if err != nil {
		return Object{}, model.Internal(err)
	}
	var obj Object
	raw, err := b.root.ReadFile(metaDir + "/" + EncodeKey(key))
	if err != nil || json.Unmarshal(raw, &obj) != nil || obj.Size != fi.Size() {
		h := md5.New()
		if _, err := io.Copy(h, f); err != nil {
			return Object{}, model.Internal(err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return Object{}, model.Internal(err)
		}
		obj = Object{Size: fi.Size(), ETag: `"` + hex.EncodeToString(h.Sum(nil)) + `"`, ContentType: "binary/octet-stream"}
	}
	obj.Key, obj.Modified = key, fi.ModTime().UTC()
	return obj, nil
}

// Delete removes key; deleting a key that does not exist succeeds, as on S3.
func (s *Store) Delete(account, bucketName, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.lookup(account, bucketName)
	if err != nil {
		return err
	}
	if checkKey(key) != nil {
		return nil
	}
	name := EncodeKey(key)
	fi, err := b.root.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return model.Internal(err)
	}
	if err := b.root.Remove(name); err != nil {
		return model.Internal(err)
	}
	b.root.Remove(metaDir + "/" + name)
	b.objects--
	s.used[account] -= fi.Size()
	return nil
}

// writeAtomic writes data to name through a temporary file renamed over it once synced.
func writeAtomic(root *os.Root, name string, data []byte) error {
	var rnd [8]byte
	rand.Read(rnd[:])
	dir := ""
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		dir = name[:i+1]
	}
	return atomicfile.Write(root, name, dir+tmpPrefix+hex.EncodeToString(rnd[:]), data, 0o600)
}
