package main

import (
	"slices"
	"testing"
)

// TestAPICertHosts: a wildcard listen address is left out of the API
// certificate (no client can use it); the names asked for and the local
// ones are in, once each.
func TestAPICertHosts(t *testing.T) {
	cases := []struct {
		listen string
		extra  []string
		want   []string
	}{
		{"0.0.0.0", nil, []string{"localhost", "127.0.0.1", "::1"}},
		{"::", []string{"north"}, []string{"north", "localhost", "127.0.0.1", "::1"}},
		{"node.adopt-north.example", []string{"node.adopt-north.example", " 10.0.0.5 "}, []string{"node.adopt-north.example", "10.0.0.5", "localhost", "127.0.0.1", "::1"}},
		{"127.0.0.1", nil, []string{"127.0.0.1", "localhost", "::1"}},
	}
	for _, c := range cases {
		if got := apiCertHosts(c.listen, c.extra); !slices.Equal(got, c.want) {
			t.Errorf("apiCertHosts(%q, %q) = %q, want %q", c.listen, c.extra, got, c.want)
		}
	}
}
