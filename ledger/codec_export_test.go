package ledger

// EditStoredReservation decodes a stored reservation record, lets f
// change it and encodes it again: for tests that corrupt ledger.db.
func EditStoredReservation(v []byte, f func(*Reservation)) ([]byte, error) {
	var r Reservation
	if err := decodeReservation(v, &r); err != nil {
		return nil, err
	}
	f(&r)
	return encodeReservation(&r), nil
}

// Preflight is the read-only pass Open makes over an existing file, for
// BenchmarkCheckIntegrity.
var Preflight = preflight
