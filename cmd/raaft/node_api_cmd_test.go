package main

import (
	"strings"
	"testing"
)

func TestParseMetrics(t *testing.T) {
	cases := []struct {
		name, in, prefix string
		want             []metricSample
	}{
		{"comments and blanks skipped", "# HELP up Up.\n# TYPE up gauge\n\nup 1\n", "", []metricSample{{Name: "up", Value: "1"}}},
		{"labels with spaces and a timestamp", `req{op="a b",code="200"} 3 1700000000` + "\n", "", []metricSample{{Name: "req", Labels: `op="a b",code="200"`, Value: "3"}}},
		{"prefix filters", "raaft_x 1\ngo_y 2\n", "raaft_", []metricSample{{Name: "raaft_x", Value: "1"}}},
		{"a line it cannot split is kept whole", "lonely\n", "", []metricSample{{Name: "lonely"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseMetrics([]byte(c.in), c.prefix)
			if err != nil || len(got) != len(c.want) {
				t.Fatalf("%v %+v; want %+v", err, got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("sample %d: %+v; want %+v", i, got[i], c.want[i])
				}
			}
		})
	}
	if _, err := parseMetrics([]byte("x "+strings.Repeat("9", metricLineBytesMax+1)+"\n"), ""); err == nil {
		t.Fatal("a line over the limit must be an error, not dropped")
	}
}

func FuzzParseMetrics(f *testing.F) {
	f.Add([]byte("# HELP up Up.\nup{a=\"b\"} 1\nlonely\n{\n}x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseMetrics(b, "")
		if err != nil {
			return
		}
		for _, s := range got {
			if s.Name == "" && s.Value != "" {
				t.Fatalf("a value without a name: %+v", s)
			}
		}
	})
}
