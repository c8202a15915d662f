package console

import (
	"testing"
	"time"
)

func TestParsePounds(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"27000", 2700000, true}, {"27,000.50", 2700050, true}, {"£1.5", 150, true}, {" 0.01 ", 1, true},
		{"", 0, false}, {"0", 0, false}, {"-5", 0, false}, {"1.234", 0, false}, {"ten", 0, false}, {"1e3", 0, false},
		{"99999999999999999999", 0, false},
	} {
		got, err := parsePounds(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parsePounds(%q) = %d, %v; want %d, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestPounds(t *testing.T) {
	for p, want := range map[int64]string{0: "£0.00", 5: "£0.05", 2970000: "£29,700.00", 123456789: "£1,234,567.89", -150: "-£1.50"} {
		if got := pounds(p); got != want {
			t.Errorf("pounds(%d) = %q; want %q", p, got, want)
		}
	}
}

func TestTimeLeft(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		28 * 24 * time.Hour: "28 days", 27*24*time.Hour + 5*time.Hour: "27 days 5 hours", 25 * time.Hour: "1 day 1 hour",
		3 * time.Hour: "3 hours", 59 * time.Minute: "59 minutes", -time.Minute: "no time (past due; it expires at the next housekeeping)",
	} {
		if got := timeLeft(now.Add(d), now); got != want {
			t.Errorf("timeLeft(+%v) = %q; want %q", d, got, want)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/holds": "/holds", "/search?x=1": "/search?x=1", "": "/", "https://evil.example/": "/", "//evil.example": "/",
		"/\\evil.example": "/", "holds": "/", "/a\r\nSet-Cookie: x": "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestSealRefusesTampering(t *testing.T) {
	c := &Console{key: []byte("0123456789abcdef0123456789abcdef")}
	s := c.seal([]byte(`{"s":"state"}`))
	var st oidcState
	if err := c.unseal(s, &st); err != nil || st.State != "state" {
		t.Fatalf("unseal(seal) = %v, %+v", err, st)
	}
	for _, bad := range []string{s[:len(s)-2] + "AA", "x" + s, "no-dot", ""} {
		if err := c.unseal(bad, &st); err == nil {
			t.Errorf("unseal(%q) accepted a tampered value", bad)
		}
	}
	other := &Console{key: []byte("another key, another process....")}
	if err := other.unseal(s, &st); err == nil {
		t.Error("a value sealed by another process was accepted")
	}
}
