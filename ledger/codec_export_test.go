package ledger

import bolt "go.etcd.io/bbolt"

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

// PlantState writes key = value into a state bucket of a closed ledger
// file and adds its element to the stored state sum, so the file stays
// self-consistent: a crafted record that the check at open accepts.
func PlantState(path, bucket string, key, value []byte) error {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Update(func(tx *bolt.Tx) error {
		acc, err := accFromBytes(tx.Bucket(bHead).Get(kAcc))
		if err != nil {
			return err
		}
		h := elemHash([]byte(bucket), key, value)
		acc.add(&h)
		if err := tx.Bucket(bHead).Put(kAcc, acc.bytes()); err != nil {
			return err
		}
		return tx.Bucket([]byte(bucket)).Put(key, value)
	})
}
