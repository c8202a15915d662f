package ledger

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Stored listings and reservations are written in a small binary form,
// not JSON: the apply loop writes one of each for most commands, and
// json.Marshal of the two was a sixth of an entry's cost on every node.
// Fields in declaration order; strings and lists as a uvarint count and
// their bytes; integers as uvarints (signed ones zig-zag); booleans and
// levels as one byte. The encoding of a value is unique, so equal values
// store equal bytes (the state hash depends on it). The API still speaks
// JSON: these are only the bytes in ledger.db.
const (
	listingCodecVersion     = 1
	reservationCodecVersion = 1
	// recordListMax bounds a decoded list (child tokens, flags): a
	// corrupt count fails instead of allocating.
	recordListMax = 64
)

type recWriter struct{ b []byte }

func (w *recWriter) str(s string) {
	w.b = binary.AppendUvarint(w.b, uint64(len(s)))
	w.b = append(w.b, s...)
}
func (w *recWriter) u(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *recWriter) i(v int64)  { w.b = binary.AppendVarint(w.b, v) }
func (w *recWriter) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}
func (w *recWriter) strs(ss []string) {
	w.u(uint64(len(ss)))
	for _, s := range ss {
		w.str(s)
	}
}

// recReader decodes what recWriter wrote; the first failure sticks.
type recReader struct {
	b   []byte
	err error
}

func (r *recReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: stored record: %s", ErrCorrupt, what)
	}
}

func (r *recReader) u() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("integer")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recReader) i() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("integer")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recReader) byte1() byte {
	if len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *recReader) bool() bool {
	switch r.byte1() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail("boolean")
	return false
}

func (r *recReader) str() string {
	n := r.u()
	if n > uint64(len(r.b)) {
		r.fail("string length")
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *recReader) strs() []string {
	n := r.u()
	if n > recordListMax {
		r.fail("list length")
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.str()
	}
	return out
}

// int reads a uvarint into an int, refusing what does not fit.
func (r *recReader) int() int {
	v := r.u()
	if v > 1<<31 {
		r.fail("integer range")
	}
	return int(v)
}

// version reads the version byte and fails unless it is want.
func (r *recReader) version(want byte, what string) bool {
	if v := r.byte1(); v != want {
		r.fail(fmt.Sprintf("%s version %d", what, v))
		return false
	}
	return true
}

func (r *recReader) done(version byte) error {
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Sprintf("%d trailing bytes (version %d)", len(r.b), version))
	}
	return r.err
}

func encodeListing(li *Listing) []byte {
	w := recWriter{b: make([]byte, 0, 160)}
	w.b = append(w.b, listingCodecVersion)
	w.str(li.Token)
	w.str(li.Agency)
	w.u(uint64(li.Ordinal))
	w.str(li.Status)
	a := &li.Attrs
	w.str(a.ApprovalDate)
	w.u(uint64(a.ChildrenMax))
	w.bool(a.SiblingGroupOK)
	w.u(uint64(a.AgeMinYears))
	w.u(uint64(a.AgeMaxYears))
	for _, l := range a.Needs.Levels() {
		w.b = append(w.b, byte(l))
	}
	w.bool(a.FosteringForAdopt)
	w.bool(a.ConcurrentPlanning)
	w.b = append(w.b, byte(a.EthnicityOpenness), byte(a.ReligionOpenness), byte(a.LanguageOpenness))
	w.str(a.Region)
	w.str(a.LocalAuthority)
	w.str(a.TravelBand)
	w.u(li.HoldID)
	w.u(li.Created)
	w.u(li.Updated)
	return w.b
}

func decodeListing(b []byte, li *Listing) error {
	r := recReader{b: b}
	if !r.version(listingCodecVersion, "listing") {
		return r.err
	}
	li.Token = r.str()
	li.Agency = r.str()
	ord := r.u()
	if ord > 1<<32-1 {
		r.fail("ordinal")
	}
	li.Ordinal = uint32(ord)
	li.Status = r.str()
	a := &li.Attrs
	a.ApprovalDate = r.str()
	a.ChildrenMax = r.int()
	a.SiblingGroupOK = r.bool()
	a.AgeMinYears = r.int()
	a.AgeMaxYears = r.int()
	n := &a.Needs
	for _, p := range []*Level{&n.PhysicalDisability, &n.LearningDisability, &n.DevelopmentalUncertainty, &n.FoetalAlcohol, &n.MedicalNeeds, &n.TraumaAttachment} {
		*p = Level(r.byte1())
	}
	a.FosteringForAdopt = r.bool()
	a.ConcurrentPlanning = r.bool()
	a.EthnicityOpenness = Level(r.byte1())
	a.ReligionOpenness = Level(r.byte1())
	a.LanguageOpenness = Level(r.byte1())
	a.Region = r.str()
	a.LocalAuthority = r.str()
	a.TravelBand = r.str()
	li.HoldID = r.u()
	li.Created = r.u()
	li.Updated = r.u()
	return r.done(listingCodecVersion)
}

func encodeReservation(res *Reservation) []byte {
	w := recWriter{b: make([]byte, 0, 160)}
	w.b = append(w.b, reservationCodecVersion)
	w.u(res.ID)
	w.str(res.Listing)
	w.str(res.ListingAgency)
	w.str(res.Holder)
	w.strs(res.ChildTokens)
	w.u(uint64(res.Children))
	w.strs(res.Flags)
	w.str(res.Status)
	w.i(res.CreatedMs)
	w.i(res.ExpiresMs)
	w.u(uint64(res.Extensions))
	w.u(res.EndedSeq)
	w.str(res.EndReason)
	w.str(res.MoveInDate)
	w.u(res.PlacedSeq)
	return w.b
}

func decodeReservation(b []byte, res *Reservation) error {
	r := recReader{b: b}
	if !r.version(reservationCodecVersion, "reservation") {
		return r.err
	}
	res.ID = r.u()
	res.Listing = r.str()
	res.ListingAgency = r.str()
	res.Holder = r.str()
	res.ChildTokens = r.strs()
	res.Children = r.int()
	res.Flags = r.strs()
	res.Status = r.str()
	res.CreatedMs = r.i()
	res.ExpiresMs = r.i()
	res.Extensions = r.int()
	res.EndedSeq = r.u()
	res.EndReason = r.str()
	res.MoveInDate = r.str()
	res.PlacedSeq = r.u()
	return r.done(reservationCodecVersion)
}

// getListingRec reads the listing stored under key (ok false if none).
func getListingRec(b *bolt.Bucket, key []byte, li *Listing) (bool, error) {
	v := b.Get(key)
	if v == nil {
		return false, nil
	}
	if err := decodeListing(v, li); err != nil {
		return false, fmt.Errorf("listing %x: %w", key, err)
	}
	return true, nil
}

// getResRec reads reservation id (ok false if none).
func getResRec(b *bolt.Bucket, id uint64, r *Reservation) (bool, error) {
	v := b.Get(u64(id))
	if v == nil {
		return false, nil
	}
	if err := decodeReservation(v, r); err != nil {
		return false, fmt.Errorf("reservation %d: %w", id, err)
	}
	return true, nil
}
