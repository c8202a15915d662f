package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// Checking a bbolt file without trusting it
//
// bbolt reads its file through a memory map and follows page ids and
// element offsets as stored. In a damaged file they point anywhere: past
// the end of the file (SIGBUS), past the map (SIGSEGV), back to an
// ancestor page (a loop that grows until memory runs out), or at a page
// of the wrong type (a panic). tx.Check does the same reads, on a
// goroutine of its own where a fault kills the process.
//
// CheckBoltFile therefore walks the file with ReadAt, trusting nothing:
// both meta pages (magic, version, checksum, page header), the file size
// against the high-water mark, then every page reachable from the root
// bucket, each visited once, with its header, element table and keys
// checked to lie inside the page. A file that passes can be handed to
// bbolt: every page bbolt can reach from it is inside the file and has
// the type bbolt expects. The layout is bbolt's, written in the machine's
// byte order (go.etcd.io/bbolt internal/common: page.go, meta.go).

// bbolt's on-disk constants (internal/common/types.go, page.go).
const (
	boltMagic         = 0xED0CDAED
	boltVersion       = 2
	boltPageHdrBytes  = 16 // id u64, flags u16, count u16, overflow u32
	boltElemBytes     = 16 // a branch or leaf element
	boltMetaBytes     = 64 // the meta struct after the page header
	boltMetaSumBytes  = 56 // the bytes the meta checksum covers
	boltInBucketBytes = 16 // root pgid u64, sequence u64

	boltBranchFlag    = 0x01
	boltLeafFlag      = 0x02
	boltMetaFlag      = 0x04
	boltBucketLeafBit = 0x01 // leaf element flag: the value is a bucket

	// boltPageBytesMin and boltPageBytesMax bound the page sizes tried
	// for meta page 1 when meta page 0 cannot say (bbolt accepts any
	// size; raaft's files use the OS page size).
	boltPageBytesMin = 1 << 10
	boltPageBytesMax = 1 << 16
	// boltPagesWalkedMax bounds the walk: 2^32 pages is 16 TiB at 4 KiB.
	boltPagesWalkedMax = 1 << 32
)

// boltMeta is the part of a meta page CheckBoltFile uses.
type boltMeta struct {
	pageBytes uint32
	root      uint64 // the root bucket's page
	pgid      uint64 // high-water mark: pages [0, pgid) are in use or free
	txid      uint64
}

// BoltFileInfo is what CheckBoltFile found in a sound file.
type BoltFileInfo struct {
	Bytes       int64  // file size
	PageBytes   uint32 // page size
	Txid        uint64 // the transaction bbolt will read
	PagesWalked uint64 // pages reachable from the root bucket
}

// CheckBoltFile checks that the file at path is a whole, readable bbolt
// database, reading it with ReadAt only, so a damaged file cannot crash
// the caller (see above). It opens the file read-only and changes
// nothing. Damage is returned wrapping ErrDamaged and says what and where.
func CheckBoltFile(path string) (BoltFileInfo, error) {
	var info BoltFileInfo
	f, err := os.Open(path)
	if err != nil {
		return info, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return info, err
	}
	info.Bytes = st.Size()
	m, err := readBoltMetas(f, info.Bytes)
	if err != nil {
		return info, err
	}
	info.PageBytes, info.Txid = m.pageBytes, m.txid
	if need := int64(m.pgid) * int64(m.pageBytes); info.Bytes < need {
		return info, damaged("truncated: the file is %d bytes; its meta page (transaction %d) says %d pages of %d bytes, %d bytes",
			info.Bytes, m.txid, m.pgid, m.pageBytes, need)
	}
	w := boltWalker{f: f, meta: m, seen: map[uint64]bool{}}
	if err := w.walk(); err != nil {
		return info, err
	}
	info.PagesWalked = uint64(len(w.seen))
	return info, nil
}

// readBoltMetas reads and checks both meta pages and returns the one bbolt
// will use (the valid one of the higher transaction). Either page being
// invalid is reported: bbolt would silently fall back to the other, an
// older transaction.
func readBoltMetas(f io.ReaderAt, size int64) (boltMeta, error) {
	if size == 0 {
		return boltMeta{}, damaged("the file is 0 bytes: not a ledger")
	}
	if size < 2*boltPageBytesMin {
		return boltMeta{}, damaged("the file is %d bytes, shorter than bbolt's two meta pages: not a ledger", size)
	}
	head := make([]byte, min(size, 2*boltPageBytesMax))
	if _, err := f.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return boltMeta{}, err
	}
	if allZero(head) {
		return boltMeta{}, damaged("its first %d bytes are all zero (zero-filled): not a ledger", len(head))
	}
	m0, err0 := parseBoltMeta(head, 0)
	var m1 boltMeta
	var err1 error
	if err0 == nil {
		m1, err1 = parseBoltMeta(head[min(int(m0.pageBytes), len(head)):], 1)
	} else {
		m1, err1 = findBoltMeta1(head)
	}
	switch {
	case err0 != nil && err1 != nil:
		return boltMeta{}, damaged("no valid bbolt meta page: not a ledger (%v; %v)", err0, err1)
	case err0 != nil:
		return boltMeta{}, damaged("%v; bbolt would read meta page 1 (transaction %d) instead: a torn write from a crash (start the node, whose next commit rewrites it) or damage", err0, m1.txid)
	case err1 != nil:
		return boltMeta{}, damaged("%v; bbolt would read meta page 0 (transaction %d) instead: a torn write from a crash (start the node, whose next commit rewrites it) or damage", err1, m0.txid)
	case m0.pageBytes != m1.pageBytes:
		return boltMeta{}, damaged("meta pages disagree on the page size (%d and %d)", m0.pageBytes, m1.pageBytes)
	case m1.txid > m0.txid:
		return m1, nil
	}
	return m0, nil
}

// findBoltMeta1 looks for meta page 1 at each page size bbolt could have
// used, for when meta page 0 cannot say.
func findBoltMeta1(head []byte) (boltMeta, error) {
	err := errors.New("meta page 1: not found at any page size")
	for sz := boltPageBytesMin; sz <= boltPageBytesMax && sz < len(head); sz *= 2 {
		m, e := parseBoltMeta(head[sz:], 1)
		if e == nil && int(m.pageBytes) == sz {
			return m, nil
		}
		if sz == 4096 {
			err = e // the usual page size says the most
		}
	}
	return boltMeta{}, err
}

// parseBoltMeta decodes and checks meta page id, which starts at p[0].
func parseBoltMeta(p []byte, id uint64) (boltMeta, error) {
	if len(p) < boltPageHdrBytes+boltMetaBytes {
		return boltMeta{}, fmt.Errorf("meta page %d: beyond the end of the file", id)
	}
	ne := binary.NativeEndian
	if got, flags := ne.Uint64(p), ne.Uint16(p[8:]); got != id || flags != boltMetaFlag {
		return boltMeta{}, fmt.Errorf("meta page %d: page header says page %d with flags %#x (want %d, %#x)", id, got, flags, id, boltMetaFlag)
	}
	mb := p[boltPageHdrBytes : boltPageHdrBytes+boltMetaBytes]
	if ne.Uint32(mb) != boltMagic {
		return boltMeta{}, fmt.Errorf("meta page %d: magic %#x is not bbolt's", id, ne.Uint32(mb))
	}
	if v := ne.Uint32(mb[4:]); v != boltVersion {
		return boltMeta{}, fmt.Errorf("meta page %d: bbolt format version %d, want %d", id, v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(mb[:boltMetaSumBytes])
	if ne.Uint64(mb[boltMetaSumBytes:]) != h.Sum64() {
		return boltMeta{}, fmt.Errorf("meta page %d: checksum does not match", id)
	}
	m := boltMeta{pageBytes: ne.Uint32(mb[8:]), root: ne.Uint64(mb[16:]), pgid: ne.Uint64(mb[40:]), txid: ne.Uint64(mb[48:])}
	if m.pageBytes < boltPageBytesMin || m.pageBytes > boltPageBytesMax || m.pageBytes&(m.pageBytes-1) != 0 {
		return boltMeta{}, fmt.Errorf("meta page %d: page size %d", id, m.pageBytes)
	}
	if m.root < 2 || m.root >= m.pgid {
		return boltMeta{}, fmt.Errorf("meta page %d: root page %d outside [2, %d)", id, m.root, m.pgid)
	}
	return m, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// boltWalker visits every page reachable from the root bucket, without
// recursion: an explicit stack of pages still to visit.
type boltWalker struct {
	f    io.ReaderAt
	meta boltMeta
	seen map[uint64]bool
}

// boltPageRef is a page still to visit: on disk (id), or inline in its
// parent's bucket value (inline, id is the page holding it).
type boltPageRef struct {
	id     uint64
	inline []byte
	from   string // where the reference was found, for the message
}

func (w *boltWalker) walk() error {
	stack := []boltPageRef{{id: w.meta.root, from: "the meta page's root bucket"}}
	for len(stack) > 0 {
		ref := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		p := ref.inline
		if p == nil {
			var err error
			if p, err = w.read(ref); err != nil {
				return err
			}
		}
		children, err := w.elements(ref, p)
		if err != nil {
			return err
		}
		stack = append(stack, children...)
	}
	return nil
}

// read reads on-disk page ref.id with its overflow pages, once.
func (w *boltWalker) read(ref boltPageRef) ([]byte, error) {
	ps := uint64(w.meta.pageBytes)
	if ref.id < 2 || ref.id >= w.meta.pgid {
		return nil, damaged("page %d (referenced from %s) is outside the pages in use [2, %d)", ref.id, ref.from, w.meta.pgid)
	}
	if w.seen[ref.id] {
		return nil, damaged("page %d is referenced twice (again from %s): the tree has a loop or shared page", ref.id, ref.from)
	}
	if uint64(len(w.seen)) >= boltPagesWalkedMax {
		return nil, damaged("more than %d pages reachable", uint64(boltPagesWalkedMax))
	}
	w.seen[ref.id] = true
	hdr := make([]byte, boltPageHdrBytes)
	if err := w.readAt(hdr, ref.id); err != nil {
		return nil, err
	}
	ne := binary.NativeEndian
	if got := ne.Uint64(hdr); got != ref.id {
		return nil, damaged("page %d: its header says page %d", ref.id, got)
	}
	overflow := uint64(ne.Uint32(hdr[12:]))
	if ref.id+overflow >= w.meta.pgid {
		return nil, damaged("page %d: %d overflow pages run past the pages in use (%d)", ref.id, overflow, w.meta.pgid)
	}
	for i := uint64(1); i <= overflow; i++ {
		w.seen[ref.id+i] = true
	}
	p := make([]byte, (overflow+1)*ps)
	if err := w.readAt(p, ref.id); err != nil {
		return nil, err
	}
	return p, nil
}

// readAt reads len(p) bytes at page id; a file that ends first is damage.
func (w *boltWalker) readAt(p []byte, id uint64) error {
	_, err := w.f.ReadAt(p, int64(id*uint64(w.meta.pageBytes)))
	if errors.Is(err, io.EOF) {
		return damaged("page %d: the file ends inside it", id)
	}
	if err != nil {
		return fmt.Errorf("read page %d: %w", id, err)
	}
	return nil
}

// elements checks page p's header and element table and returns the
// pages it references: a branch's children, a leaf's nested buckets.
func (w *boltWalker) elements(ref boltPageRef, p []byte) ([]boltPageRef, error) {
	where := fmt.Sprintf("page %d", ref.id)
	if ref.inline != nil {
		where = fmt.Sprintf("the inline bucket in %s", ref.from)
	}
	bad := func(format string, a ...any) ([]boltPageRef, error) {
		return nil, damaged("%s: %s", where, fmt.Sprintf(format, a...))
	}
	if len(p) < boltPageHdrBytes {
		return bad("%d bytes, shorter than a page header", len(p))
	}
	ne := binary.NativeEndian
	flags, count := ne.Uint16(p[8:]), int(ne.Uint16(p[10:]))
	if flags != boltBranchFlag && flags != boltLeafFlag || ref.inline != nil && flags != boltLeafFlag {
		return bad("page flags %#x: not a branch or leaf page", flags)
	}
	if flags == boltBranchFlag && count == 0 {
		return bad("a branch page with no elements")
	}
	if boltPageHdrBytes+count*boltElemBytes > len(p) {
		return bad("%d elements do not fit in %d bytes", count, len(p))
	}
	var out []boltPageRef
	var prev []byte
	for i := range count {
		off := boltPageHdrBytes + i*boltElemBytes
		e := p[off : off+boltElemBytes]
		pos, ksize := uint64(ne.Uint32(e[4:])), uint64(ne.Uint32(e[8:]))
		vsize := uint64(0)
		if flags == boltBranchFlag {
			pos, ksize = uint64(ne.Uint32(e)), uint64(ne.Uint32(e[4:]))
		} else {
			vsize = uint64(ne.Uint32(e[12:]))
		}
		start := uint64(off) + pos
		if start+ksize+vsize > uint64(len(p)) {
			return bad("element %d (key %d bytes, value %d at offset %d) runs past the page's %d bytes", i, ksize, vsize, start, len(p))
		}
		key := p[start : start+ksize]
		if i > 0 && bytes.Compare(prev, key) >= 0 {
			return bad("element %d: keys out of order", i)
		}
		prev = key
		from := fmt.Sprintf("%s element %d", where, i)
		switch {
		case flags == boltBranchFlag:
			out = append(out, boltPageRef{id: ne.Uint64(e[8:]), from: from})
		case ne.Uint32(e)&boltBucketLeafBit != 0:
			child, err := bucketRef(p[start+ksize:start+ksize+vsize], ref.id, fmt.Sprintf("bucket %q (%s)", key, from))
			if err != nil {
				return bad("element %d: %v", i, err)
			}
			out = append(out, child)
		}
	}
	return out, nil
}

// bucketRef decodes a nested bucket's value: its root page, or its inline page.
func bucketRef(v []byte, parent uint64, from string) (boltPageRef, error) {
	if len(v) < boltInBucketBytes {
		return boltPageRef{}, fmt.Errorf("bucket value of %d bytes", len(v))
	}
	root := binary.NativeEndian.Uint64(v)
	if root != 0 {
		return boltPageRef{id: root, from: from}, nil
	}
	return boltPageRef{id: parent, inline: v[boltInBucketBytes:], from: from}, nil
}
