package node

import (
	"os"
	"path/filepath"
	"testing"
)

func TestKeyFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "agency.key")
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(p, k); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	got, err := ReadKeyFile(p)
	if err != nil || !got.Equal(k) {
		t.Fatalf("round trip: %v", err)
	}
	if err := WriteKeyFile(p, k); err == nil {
		t.Fatal("overwrote an existing key")
	}
	os.WriteFile(filepath.Join(dir, "bad"), []byte("not pem"), 0o600)
	if _, err := ReadKeyFile(filepath.Join(dir, "bad")); err == nil {
		t.Fatal("read garbage")
	}
}
